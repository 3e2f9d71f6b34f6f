// The subcommands of `taskrel`. Each lives in its own file with one options
// struct that feeds its flags, defaults, validation and --help text; each
// add_*_command registers the subcommand and, when it is the one chosen,
// sets `action` to run it.
#pragma once

#include <functional>

#include <CLI/CLI.hpp>

#include "comm/mpi_communicator.h"

namespace taskrel::cli {

using CommandAction = std::function<int(MpiCommunicator& world)>;

void add_import_command(CLI::App& root, CommandAction& action);
void add_inspect_command(CLI::App& root, CommandAction& action);
void add_ot_command(CLI::App& root, CommandAction& action);
void add_relate_command(CLI::App& root, CommandAction& action);
void add_matrix_command(CLI::App& root, CommandAction& action);
void add_correlate_command(CLI::App& root, CommandAction& action);
void add_build_zoo_command(CLI::App& root, CommandAction& action);

}  // namespace taskrel::cli
