// `taskrel build-zoo`: builds the bundled Fashion-MNIST zoo into a directory.
//
//   DIR/zoo.json         what the zoo is: preset, seed, tasks, encoders (source
//                        task, width, training, embedding dim, source accuracy)
//   DIR/encoders/*.pt    trained encoders (LibTorch), the training cache
//   DIR/store.h5         embeddings of every task by every encoder (DESIGN.md 3)
//   DIR/journal.txt      one line per finished unit, so a killed run resumes
//   DIR/finetune.csv     encoder,target,accuracy after end-to-end fine-tuning
//
// Stages per encoder: train on its source task (or keep the random
// initialisation), embed every task, fine-tune on every target. A unit that
// the journal records as done is not redone; the cache is keyed by preset and
// seed, and a directory built with other ones is refused unless `force`.
#pragma once

#include <cstdint>
#include <string>

namespace taskrel::fmnist_zoo {

struct ZooBuildOptions {
  std::string out_dir;
  std::string preset = "default";
  std::string data_dir = "/usr/share/datasets/fashion-mnist";
  std::uint64_t seed = 0;
  int threads = 0;  // LibTorch threads; 0: every core
  bool force = false;
};

struct ZooBuildReport {
  bool already_complete = false;  // nothing had to be done
  int units_done = 0;             // units computed by this run
  int units_total = 0;
  double seconds = 0;
};

ZooBuildReport build_zoo(const ZooBuildOptions& options);

}  // namespace taskrel::fmnist_zoo
