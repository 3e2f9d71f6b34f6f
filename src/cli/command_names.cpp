#include "cli/commands.h"

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

}  // namespace taskrel::cli
