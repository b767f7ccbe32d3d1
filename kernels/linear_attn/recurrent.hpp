// Linear attention, one token at a time (decode, short T): DESIGN.md §1.
//   S_t = exp(g_t) S_{t-1} + k_t^T v_t;  o_t = scale * q_t S_t
//   normalize: z_t = z_{t-1} + k_t;      o_t = q_t S_t / (q_t . z_t + eps)
// One sweep over S per token: each state row is decayed, written and read
// out while it is in registers.
#pragma once

#include <cmath>

#include "kernels/common/rows.hpp"
#include "kernels/common/state_sweep.hpp"
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
    rows::load_row<Vec>(K, t.q + s * t.q_ts, qn, t.qk_l2norm);
    rows::load_row<Vec>(K, t.k + s * t.k_ts, kn, t.qk_l2norm);
    const float decay = t.g ? std::exp(t.g[s * t.g_ts]) : 1.0f;
    const float* v = t.v + s * t.v_ts;
    // Whole blocks with register accumulators, then the remaining columns.
    constexpr int64_t kBlock = sweep::kNB * Vec::N;
    int64_t c0 = 0;
    for (; c0 + kBlock <= V; c0 += kBlock)
      sweep::update_read<Vec>(K, decay, t.S + c0, t.S_ld, kn, v + c0, qn, acc + c0);
    if (c0 < V) {
      rows::fill<Vec>(V - c0, 0.0f, acc + c0);
      for (int64_t i = 0; i < K; ++i)
        rows::update_and_read<Vec>(V - c0, decay, t.S + i * t.S_ld + c0, kn[i], v + c0, qn[i],
                                   acc + c0);
    }
    float out_scale = t.scale;
    if (t.normalize) {
      rows::axpy<Vec>(K, 1.0f, kn, t.z);
      out_scale = 1.0f / (rows::dot<Vec>(K, qn, t.z) + t.eps);
    }
    rows::scaled_copy<Vec>(V, out_scale, acc, t.o + s * t.o_ts);
  }
}

}  // namespace kern
}  // namespace fw
