// The subcommands of `taskrel`. Each lives in its own file with one options
// struct that feeds its flags, defaults, validation and --help text; each
// add_*_command registers the subcommand and, when it is the one chosen,
// sets `action` to run it.
//
// Two executables share them (app.h): `taskrel`, the front, holds the
// commands that need no LibTorch (import, inspect, ot, correlate) and starts
// at once; the commands that train or fit (relate, matrix, build-zoo) live in
// `taskrel-torch`, which the front hands its argv to (exec) before anything
// else happens, so a user only ever types `taskrel`.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>

#include "comm/communicator.h"

namespace taskrel::cli {

using CommandAction = std::function<int(Communicator& world)>;
using CommandRegistrar = void (*)(CLI::App& root, CommandAction& action);

// The commands of taskrel-torch, with the description both executables show
// (the front lists them in its --help and hands them over).
struct CommandInfo {
  const char* name;
  const char* description;
};
const std::vector<CommandInfo>& torch_command_infos();
const char* torch_command_description(const std::string& name);
bool is_torch_command(const std::string& name);
// Whether taskrel-torch runs this command line: the torch commands, and `ot`
// when it may run on a GPU -- `--device cuda`, or no --device while a GPU may
// be visible -- provided taskrel-torch has the CUDA backend. The front links
// no CUDA (ot/device_backend.h) so that it starts at once.
bool runs_in_torch_binary(int argc, char** argv, bool torch_has_cuda, bool gpu_may_be_visible);
// An NVIDIA GPU may be visible to this process: a /dev/nvidiaN device node
// exists (CUDA needs one) and CUDA_VISIBLE_DEVICES does not hide them all.
// Cheap (no CUDA runtime); taskrel-torch then asks the runtime.
bool gpu_may_be_visible();

void add_import_command(CLI::App& root, CommandAction& action);
void add_inspect_command(CLI::App& root, CommandAction& action);
void add_ot_command(CLI::App& root, CommandAction& action);
void add_relate_command(CLI::App& root, CommandAction& action);
void add_matrix_command(CLI::App& root, CommandAction& action);
void add_correlate_command(CLI::App& root, CommandAction& action);
void add_build_zoo_command(CLI::App& root, CommandAction& action);

}  // namespace taskrel::cli
