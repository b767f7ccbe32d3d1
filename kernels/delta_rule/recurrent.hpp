// Delta rule and gated delta rule, one token at a time: DESIGN.md §1.
//   S' = exp(g_t) S_{t-1}   (g absent: S' = S_{t-1})
//   S_t = S' + beta_t k_t^T (v_t - k_t S')      "forget before error"
//   o_t = scale * q_t S_t
// The two sweeps over S (k S, then decay-write-read) run per block of
// columns, so the block read by the first sweep is still in L1 for the
// second: a state larger than the caches crosses the memory bus once per
// token (read + write) instead of being read twice. A block is 2 vectors
// wide (32 columns on AVX-512: K = 128 rows make 16 KiB, inside every L1d we
// target), its accumulators in registers (state_sweep.hpp).
#pragma once

#include <cmath>

#include "kernels/common/rows.hpp"
#include "kernels/common/state_sweep.hpp"
#include "kernels/common/token_prefetch.hpp"
#include "kernels/kernel_table.hpp"

namespace fw {
namespace kern {

template <class Vec>
void delta_rule_recurrent(const ScanTask& t) {
  const int64_t K = t.K, V = t.V;
  float* qn = t.ws;
  float* kn = qn + K;
  float* d = kn + K;  // k S, then the write vector beta (v - k S')
  float* acc = d + V;
  constexpr int64_t kBlock = sweep::kNB * Vec::N;
  for (int64_t s = 0; s < t.T; ++s) {
    prefetch_token_ahead<Vec>(t, s);
    rows::load_row<Vec>(K, t.q + s * t.q_ts, qn, t.qk_l2norm);
    rows::load_row<Vec>(K, t.k + s * t.k_ts, kn, t.qk_l2norm);
    const float decay = t.g ? std::exp(t.g[s * t.g_ts]) : 1.0f;
    const float beta = t.beta[s * t.beta_ts];
    const float* v = t.v + s * t.v_ts;
    for (int64_t c0 = 0; c0 < V; c0 += kBlock) {
      const int64_t w = V - c0 < kBlock ? V - c0 : kBlock;
      float* S = t.S + c0;
      if (w == kBlock) {
        sweep::read<Vec>(K, kn, S, t.S_ld, d);
      } else {  // the last, partial block
        rows::fill<Vec>(w, 0.0f, d);
        for (int64_t i = 0; i < K; ++i) rows::axpy<Vec>(w, kn[i], S + i * t.S_ld, d);
      }
      rows::scal<Vec>(w, decay, d);
      rows::rsub<Vec>(w, v + c0, d);
      rows::scal<Vec>(w, beta, d);
      if (w == kBlock) {
        sweep::update_read<Vec>(K, decay, S, t.S_ld, kn, d, qn, acc + c0);
      } else {
        rows::fill<Vec>(w, 0.0f, acc + c0);
        for (int64_t i = 0; i < K; ++i)
          rows::update_and_read<Vec>(w, decay, S + i * t.S_ld, kn[i], d, qn[i], acc + c0);
      }
    }
    rows::scaled_copy<Vec>(V, t.scale, acc, t.o + s * t.o_ts);
  }
}

}  // namespace kern
}  // namespace fw
