#include "src/favor_projection.hpp"

#include <cmath>

namespace fw {
namespace {

// splitmix64: a fixed, portable stream of 64-bit values.
struct Rng {
  uint64_t s;
  uint64_t next() {
    uint64_t z = (s += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
  }
  // Uniform in (-1, 1), 53 random bits.
  double symmetric() { return (static_cast<double>(next() >> 11) + 0.5) * 0x1p-52 - 1.0; }
};

// Natural log for x in (0, 1] from +, -, *, / alone: x = m 2^e with m in
// [1/sqrt2, sqrt2), ln m = 2 atanh(y), y = (m - 1) / (m + 1), |y| < 0.172;
// 20 terms of the series reach double rounding. libm's log may differ by an
// ulp between machines; this may not.
double portable_log(double x) {
  int e = 0;
  double m = std::frexp(x, &e);  // exact
  if (m < 0.70710678118654752) {
    m *= 2.0;
    --e;
  }
  const double y = (m - 1.0) / (m + 1.0), y2 = y * y;
  double term = y, sum = 0.0;
  for (int k = 0; k < 20; ++k) {
    sum += term / (2 * k + 1);
    term *= y2;
  }
  return 2.0 * sum + e * 0.69314718055994530942;
}

// Standard normal, Marsaglia's polar method.
double gaussian(Rng& rng) {
  for (;;) {
    const double u = rng.symmetric(), v = rng.symmetric(), s = u * u + v * v;
    if (s > 0.0 && s < 1.0) return u * std::sqrt(-2.0 * portable_log(s) / s);
  }
}

}  // namespace

void favor_projection(int64_t d, int64_t m, uint64_t seed, double* scratch, float* out) {
  Rng rng{seed};
  double* block = scratch;  // d x d
  double* lengths = scratch + d * d;
  for (int64_t r0 = 0; r0 < m; r0 += d) {
    const int64_t rows = m - r0 < d ? m - r0 : d;
    for (int64_t i = 0; i < d * d; ++i) block[i] = gaussian(rng);
    // Modified Gram-Schmidt on the rows.
    for (int64_t i = 0; i < rows; ++i) {
      double* bi = block + i * d;
      for (int64_t j = 0; j < i; ++j) {
        const double* bj = block + j * d;
        double p = 0.0;
        for (int64_t c = 0; c < d; ++c) p += bi[c] * bj[c];
        for (int64_t c = 0; c < d; ++c) bi[c] -= p * bj[c];
      }
      double nrm = 0.0;
      for (int64_t c = 0; c < d; ++c) nrm += bi[c] * bi[c];
      nrm = std::sqrt(nrm);
      for (int64_t c = 0; c < d; ++c) bi[c] /= nrm;
    }
    for (int64_t i = 0; i < rows; ++i) {
      double len = 0.0;
      for (int64_t c = 0; c < d; ++c) {
        const double x = gaussian(rng);
        len += x * x;
      }
      lengths[i] = std::sqrt(len);
    }
    for (int64_t i = 0; i < rows; ++i)
      for (int64_t c = 0; c < d; ++c)
        out[(r0 + i) * d + c] = static_cast<float>(block[i * d + c] * lengths[i]);
  }
}

}  // namespace fw
