// Linear attention, one token at a time (decode, short T): DESIGN.md §1.
//   S_t = exp(g_t) S_{t-1} + k_t^T v_t;  o_t = scale * q_t S_t
//   normalize: z_t = z_{t-1} + k_t;  o_t = scale q_t S_t / (scale q_t . z_t + eps)
// One sweep over S per token: each state row is decayed, written and read
// out while it is in registers.
#pragma once

#include <cmath>

#include "kernels/common/rows.hpp"
#include "kernels/common/token_prefetch.hpp"
#include "kernels/kernel_table.hpp"

namespace fw {
namespace kern {

template <class Vec>
void linear_attn_recurrent(const ScanTask& t) {
  const int64_t K = t.K, V = t.V;
  float* qn = t.ws;
  float* kn = qn + K;
  float* acc = kn + K;
  for (int64_t s = 0; s < t.T; ++s) {
    prefetch_token_ahead<Vec>(t, s);
    rows::load_row<Vec>(K, t.q + s * t.q_ts, qn, t.qk_l2norm);
    rows::load_row<Vec>(K, t.k + s * t.k_ts, kn, t.qk_l2norm);
    const float decay = t.g ? std::exp(t.g[s * t.g_ts]) : 1.0f;
    const float* v = t.v + s * t.v_ts;
    // Row-major: one streaming pass. (Column blocks with register
    // accumulators, as the delta rule uses, made decode at B = 64, HV = 32,
    // K = V = 128 take 17.8 ms on one thread instead of 10.2: four strided
    // passes over each state.)
    rows::fill<Vec>(V, 0.0f, acc);
    for (int64_t i = 0; i < K; ++i)
      rows::update_and_read<Vec>(V, decay, t.S + i * t.S_ld, kn[i], v, qn[i], acc);
    float out_scale = t.scale;
    if (t.normalize) {
      rows::axpy<Vec>(K, 1.0f, kn, t.z);
      out_scale = t.scale / (t.scale * rows::dot<Vec>(K, qn, t.z) + t.eps);
    }
    rows::scaled_copy<Vec>(V, out_scale, acc, t.o + s * t.o_ts);
  }
}

}  // namespace kern
}  // namespace fw
