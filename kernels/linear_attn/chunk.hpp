// Linear attention, chunked (prefill): DESIGN.md §2. Per chunk of L <= C
// tokens with in-chunk cumulative log-decay G:
//   O = exp(G) * (Q S) + ((Q K^T) * exp(G_i - G_j) * M) V
//   S <- exp(G_last) S + (exp(G_last - G) * K)^T V
// normalize (ungated): q_t . z_t = (Q z)_t + sum_{j <= t} (Q K^T)_tj.
#pragma once

#include "kernels/common/chunk_ops.hpp"
#include "kernels/common/rows.hpp"
#include "kernels/kernel_table.hpp"

namespace fw {
namespace kern {

template <class Vec>
void linear_attn_chunk(const ScanTask& t) {
  const int64_t K = t.K, V = t.V, C = t.chunk;
  const bool gated = t.g != nullptr;
  const chunk::Buffers b = chunk::buffers<Vec>(t);
  for (int64_t c0 = 0; c0 < t.T; c0 += C) {
    const int64_t L = t.T - c0 < C ? t.T - c0 : C;
    // V rows are copied, not read in place: one head's rows sit 8 KiB apart
    // (16 heads of 128), all in one L1 set, and the gemm passes that re-read
    // them thrashed it (the 4x1 panel of the state update alone took 22% of
    // the time in perf).
    chunk::load<Vec>(t, c0, L, b);
    chunk::load_values<Vec>(t, c0, L, nullptr, b.U);
    const float* Vc = b.U;
    // O is built in the (cache-hot) workspace and written out once: built in
    // place in the caller's output rows, this ran 20% slower (124 vs 103 ms,
    // T = 4096, H = 16, K = V = 128, AVX-512, one thread), the read-modify-
    // write passes of gemm landing on cold lines.
    chunk::times_state<Vec>(L, K, V, b.Q, t.S, t.S_ld, b.G, gated, b.O, V);
    chunk::causal_scores<Vec>(L, K, C, b.Q, b.KT, b.G, gated, /*strict=*/false, b.A);
    chunk::add_causal_product<Vec>(L, V, C, b.A, Vc, V, b.O, V);
    if (t.normalize) {
      // b.G (all zeros: normalize is ungated) becomes the row factors.
      for (int64_t i = 0; i < L; ++i) {
        float den = rows::dot<Vec>(K, b.Q + i * K, t.z);
        for (int64_t j = 0; j <= i; ++j) den += b.A[i * C + j];
        b.G[i] = 1.0f / (den + t.eps);
      }
      for (int64_t j = 0; j < L; ++j) rows::axpy<Vec>(K, 1.0f, b.Kc + j * K, t.z);
    }
    chunk::store_outputs<Vec>(t, c0, L, b.O, t.normalize ? b.G : nullptr);
    chunk::update_state<Vec>(L, K, V, b.Kc, Vc, V, b.G, gated, b.Kb, t.S, t.S_ld);
  }
}

}  // namespace kern
}  // namespace fw
