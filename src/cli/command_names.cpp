#include "cli/commands.h"

#include <cctype>
#include <cstdlib>
#include <filesystem>

#include "cli/app.h"
#include "core/error.h"

namespace taskrel::cli {

const std::vector<CommandInfo>& torch_command_infos() {
  static const std::vector<CommandInfo> infos = {
      {"relate", "Task relatedness of one (encoder, reference, target): RW + H + tau * W_d (Mehra, Zhang & Hamm)"},
      {"matrix",
       "Relatedness of every (encoder, reference, target) triple of a job spec: rank groups, resumable journal, "
       "relatedness.csv / relatedness.h5"},
      {"build-zoo", "Build a bundled Fashion-MNIST encoder zoo: encoders, embeddings, fine-tuned accuracies"},
  };
  return infos;
}

const char* torch_command_description(const std::string& name) {
  for (const auto& info : torch_command_infos())
    if (name == info.name) return info.description;
  TASKREL_ASSERT(false, "{} is not a taskrel-torch command", name);
  return "";
}

bool is_torch_command(const std::string& name) {
  for (const auto& info : torch_command_infos())
    if (name == info.name) return true;
  return false;
}

namespace {

// The value of `--device` on the command line ("" when absent).
std::string device_flag(int argc, char** argv) {
  std::string device;
  for (int i = 1; i < argc; ++i) {
    const std::string word = argv[i];
    if (word == "--device" && i + 1 < argc) device = argv[++i];
    else if (word.rfind("--device=", 0) == 0) device = word.substr(9);
  }
  return device;
}

}  // namespace

bool runs_in_torch_binary(int argc, char** argv, bool torch_has_cuda, bool gpu_may_be_visible) {
  const std::string command = requested_command(argc, argv);
  if (is_torch_command(command)) return true;
  if (command != "ot" || !torch_has_cuda) return false;
  const std::string device = device_flag(argc, argv);
  return device == "cuda" || (device.empty() && gpu_may_be_visible);
}

bool gpu_may_be_visible() {
  const char* visible = std::getenv("CUDA_VISIBLE_DEVICES");
  if (visible != nullptr && std::string(visible).empty()) return false;
  std::error_code ec;
  for (const auto& entry : std::filesystem::directory_iterator("/dev", ec)) {
    const std::string name = entry.path().filename().string();
    if (name.size() > 6 && name.rfind("nvidia", 0) == 0 && std::isdigit(static_cast<unsigned char>(name[6])))
      return true;
  }
  return false;
}

}  // namespace taskrel::cli
