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

#include "kernels/common/convert.hpp"
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
  rows::prefetch_bytes<Vec>(t.q.at(a), t.K * dtype_bytes(t.q.dt), false);
  rows::prefetch_bytes<Vec>(t.k.at(a), t.K * dtype_bytes(t.k.dt), false);
  rows::prefetch_bytes<Vec>(t.v.at(a), t.V * dtype_bytes(t.v.dt), false);
  rows::prefetch_bytes<Vec>(t.o.at(a), t.V * dtype_bytes(t.o.dt), true);
}

// A recurrent kernel's start of token s: rows of a later token asked for,
// q and k loaded (L2-normalised on request) into qn and kn; returns the
// token's decay exp(g_s) (1 ungated). A per-channel gate returns 1 and
// leaves e = exp(g_s) in the head (recurrent_decays), and for KDA (an op
// with beta) ke = kn * e after it.
template <class Vec>
inline float begin_token(const ScanTask& t, int64_t s, float* qn, float* kn) {
  prefetch_token_ahead<Vec>(t, s);
  convert::load_row<Vec>(t.K, t.q.at(s), t.q.dt, qn, t.qk_l2norm);
  convert::load_row<Vec>(t.K, t.k.at(s), t.k.dt, kn, t.qk_l2norm);
  if (!t.g.p) return 1.0f;
  if (!t.g_channel) return std::exp(gates::scalar_gate<Vec>(t, s));
  if (s + kPrefetchTokens < t.T)
    rows::prefetch_bytes<Vec>(t.g.at(s + kPrefetchTokens), t.K * dtype_bytes(t.g.dt), false);
  float* e = recurrent_decays<Vec>(t);
  rows::exp_row<Vec>(t.K, gates::channel_gate_row<Vec>(t, s, e), e);
  if (t.beta.p) rows::mul<Vec>(t.K, kn, e, e + t.K);  // KDA's read vector; GLA has none
  return 1.0f;
}

// v_t as fp32: the caller's row, or the row widened into the head
// (recurrent_values).
template <class Vec>
inline const float* token_values(const ScanTask& t, int64_t s) {
  return convert::row_f32<Vec>(t.v, s, t.V, recurrent_values<Vec>(t));
}

// o_t = a * acc, rounded to o's dtype.
template <class Vec>
inline void store_token_output(const ScanTask& t, int64_t s, float a, const float* acc) {
  convert::narrow_scaled<Vec>(t.V, a, acc, t.o.at(s), t.o.dt);
}

}  // namespace kern
}  // namespace fw
