// The text of progress reports, shared by every long command (`matrix`,
// `build-zoo`): durations as "42s", "3m07s", "2h05m", and a fixed-width bar.
#pragma once

#include <string>

namespace taskrel {

// "?" for a negative, NaN or absurd value (an ETA before anything finished).
std::string duration_text(double seconds);

// "[#########.....................]": `done` of `total` in `width` cells
// (full when total <= 0).
std::string progress_bar(long long done, long long total, int width = 30);

}  // namespace taskrel
