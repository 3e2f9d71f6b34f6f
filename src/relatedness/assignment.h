// Small combinatorial helpers of the relatedness analysis: k-means (the
// pseudo-label start) and the optimal assignment (Hungarian algorithm) used
// for label permutations and agreement up to permutation.
#pragma once

#include <cstdint>
#include <vector>

namespace taskrel::relatedness {

// Minimum-cost assignment of an n x n cost matrix (row-major): result[row] = column.
std::vector<int> solve_assignment(const std::vector<double>& cost, int n);

// Fraction of rows where pred and truth agree after the best one-to-one
// relabelling of pred (K classes on both sides).
double agreement_up_to_permutation(const std::vector<std::int64_t>& pred, const std::vector<std::int64_t>& truth,
                                   int classes);

// Lloyd's k-means with k-means++ seeding (deterministic for the seed) on
// rows x dim points; returns the cluster of each point.
std::vector<std::int64_t> kmeans(const std::vector<float>& points, std::int64_t rows, std::int64_t dim, int k,
                                 std::uint64_t seed, int iterations = 100);

}  // namespace taskrel::relatedness
