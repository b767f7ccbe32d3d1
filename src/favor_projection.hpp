// The FAVOR+ random projection (Choromanski et al. 2021): m rows of d,
// Gaussian rows orthogonalised in blocks of d, then rescaled to the norms of
// independent Gaussian vectors so each row keeps the Gaussian length law.
#pragma once

#include <cstdint>

namespace fw {
// out: m x d floats. Uses only IEEE-exact operations (+ - * / sqrt) on
// doubles and its own logarithm, so the same seed gives the same bits on
// every machine (the build uses -ffp-contract=off).
void favor_projection(int64_t d, int64_t m, uint64_t seed, double* scratch, float* out);
// Doubles of scratch favor_projection needs.
inline int64_t favor_projection_scratch(int64_t d) { return d * d + d; }
}  // namespace fw
