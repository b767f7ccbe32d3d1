// Delta rule and gated delta rule, one token at a time: DESIGN.md §1.
//   S' = exp(g_t) S_{t-1}   (g absent: S' = S_{t-1})
//   S_t = S' + beta_t k_t^T (v_t - k_t S')      "forget before error"
//   o_t = scale * q_t S_t
// Two sweeps over S per token: one reads k S, one decays, writes and reads
// out each row (k S' = exp(g) k S, so the first sweep needs no decay).
#pragma once

#include <cmath>

#include "kernels/common/rows.hpp"
#include "kernels/kernel_table.hpp"

namespace fw {
namespace kern {

template <class Vec>
void delta_rule_recurrent(const ScanTask& t) {
  const int64_t K = t.K, V = t.V;
  float* qn = t.ws;
  float* kn = qn + K;
  float* d = kn + K;    // k S, then the write vector beta (v - k S')
  float* acc = d + V;
  for (int64_t s = 0; s < t.T; ++s) {
    rows::load_row<Vec>(K, t.q + s * t.q_ts, qn, t.qk_l2norm);
    rows::load_row<Vec>(K, t.k + s * t.k_ts, kn, t.qk_l2norm);
    const float decay = t.g ? std::exp(t.g[s * t.g_ts]) : 1.0f;
    const float beta = t.beta[s * t.beta_ts];
    rows::fill<Vec>(V, 0.0f, d);
    for (int64_t i = 0; i < K; ++i) rows::axpy<Vec>(V, kn[i], t.S + i * V, d);
    rows::scal<Vec>(V, decay, d);
    rows::rsub<Vec>(V, t.v + s * t.v_ts, d);
    rows::scal<Vec>(V, beta, d);
    rows::fill<Vec>(V, 0.0f, acc);
    for (int64_t i = 0; i < K; ++i)
      rows::update_and_read<Vec>(V, decay, t.S + i * V, kn[i], d, qn[i], acc);
    rows::scaled_copy<Vec>(V, t.scale, acc, t.o + s * t.o_ts);
  }
}

}  // namespace kern
}  // namespace fw
