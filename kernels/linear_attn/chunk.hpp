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
    const float* Vc = t.v + c0 * t.v_ts;  // read in place: gemm takes row strides
    chunk::load<Vec>(t, c0, L, b);
    if (!t.normalize) {
      // scale folded into Q, products written straight into the output rows.
      float* Oc = t.o + c0 * t.o_ts;
      rows::scal<Vec>(L * K, t.scale, b.Q);
      chunk::times_state<Vec>(L, K, V, b.Q, t.S, b.G, gated, Oc, t.o_ts);
      chunk::causal_scores<Vec>(L, K, C, b.Q, b.KT, b.G, gated, /*strict=*/false, b.A);
      chunk::add_causal_product<Vec>(L, V, C, b.A, Vc, t.v_ts, Oc, t.o_ts);
    } else {
      chunk::times_state<Vec>(L, K, V, b.Q, t.S, b.G, gated, b.O, V);
      chunk::causal_scores<Vec>(L, K, C, b.Q, b.KT, b.G, gated, /*strict=*/false, b.A);
      chunk::add_causal_product<Vec>(L, V, C, b.A, Vc, t.v_ts, b.O, V);
      for (int64_t i = 0; i < L; ++i) {
        float den = rows::dot<Vec>(K, b.Q + i * K, t.z);
        for (int64_t j = 0; j <= i; ++j) den += b.A[i * C + j];
        rows::scaled_copy<Vec>(V, 1.0f / (den + t.eps), b.O + i * V, t.o + (c0 + i) * t.o_ts);
      }
      for (int64_t j = 0; j < L; ++j) rows::axpy<Vec>(K, 1.0f, b.Kc + j * K, t.z);
    }
    chunk::update_state<Vec>(L, K, V, b.Kc, Vc, t.v_ts, b.G, gated, b.Kb, t.S);
  }
}

}  // namespace kern
}  // namespace fw
