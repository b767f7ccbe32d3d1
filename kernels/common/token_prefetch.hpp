// The recurrent kernels' start of each token, and the rows of a token
// asked for a few tokens before they reach it. One head's rows sit H * D floats apart in [B, T, H,
// D] tensors, a stride the hardware prefetchers do not follow. Four tokens ahead, the recurrent
// delta rule at T = 2048, K = V = 64 took 13.9 ms instead of 22.3 with H = 16, and 3.9 instead
// of 5.2 with H = 4; at K = V = 128, 63.8 instead of 75.1 and 15.9 instead of 18.2; linear
// attention 15.0 instead of 20.4 ms at H = 16, K = V = 64 (paired A/B,
// AVX-512, one thread; two tokens ahead did as well as four).
#pragma once

#include <cmath>
#include <cstdint>

#include "kernels/common/gates.hpp"
#include "kernels/common/rows.hpp"
#include "kernels/kernel_table.hpp"

namespace fw {
namespace kern {

constexpr int64_t kPrefetchTokens = 4;

// Rows of token s + kPrefetchTokens: q, k and v, and o for writing.
template <class Vec>
inline void prefetch_token_ahead(const ScanTask& t, int64_t s) {
  const int64_t a = s + kPrefetchTokens;
  if (a >= t.T) return;
  rows::prefetch<Vec>(t.q + a * t.q_ts, t.K, false);
  rows::prefetch<Vec>(t.k + a * t.k_ts, t.K, false);
  rows::prefetch<Vec>(t.v + a * t.v_ts, t.V, false);
  rows::prefetch<Vec>(t.o + a * t.o_ts, t.V, true);
}

// A recurrent kernel's start of token s: rows of a later token asked for,
// q and k loaded (L2-normalised on request) into qn and kn; returns the
// token's decay exp(g_s) (1 ungated). A per-channel gate returns 1 and
// leaves e = exp(g_s) in the head (recurrent_decays), and for KDA (an op
// with beta) ke = kn * e after it.
template <class Vec>
inline float begin_token(const ScanTask& t, int64_t s, float* qn, float* kn) {
  prefetch_token_ahead<Vec>(t, s);
  rows::load_row<Vec>(t.K, t.q + s * t.q_ts, qn, t.qk_l2norm);
  rows::load_row<Vec>(t.K, t.k + s * t.k_ts, kn, t.qk_l2norm);
  if (!t.g) return 1.0f;
  if (!t.g_channel) return std::exp(gates::scalar_gate<Vec>(t, s));
  if (s + kPrefetchTokens < t.T)
    rows::prefetch<Vec>(t.g + (s + kPrefetchTokens) * t.g_ts, t.K, false);
  float* e = recurrent_decays<Vec>(t);
  rows::exp_row<Vec>(t.K, gates::channel_gate_row<Vec>(t, s, e), e);
  if (t.beta) rows::mul<Vec>(t.K, kn, e, e + t.K);  // KDA's read vector; GLA has none
  return 1.0f;
}

}  // namespace kern
}  // namespace fw
