// Delta rule and gated delta rule, chunked in the WY/UT form (DESIGN.md §2,
// Yang et al. 2024). Per chunk of L <= C tokens, G the in-chunk cumulative
// log-decay (zero when ungated):
//   A_ij = beta_i (k_i . k_j) exp(G_i - G_j), i > j
//   W = (I + A)^{-1} (beta exp(G) K),  U = (I + A)^{-1} (beta V)
//   U' = U - W S
//   O = scale (exp(G) (Q S) + ((Q K^T) exp(G_i - G_j) M) U')
//   S <- exp(G_last) S + (exp(G_last - G) K)^T U'
// (I + A)^{-1} is never formed: W and U come from forward substitution,
// row i minus A_ij times the finished rows j < i, the same O(L^2 (K + V)).
#pragma once

#include <cmath>

#include "kernels/common/chunk_ops.hpp"
#include "kernels/common/rows.hpp"
#include "kernels/kernel_table.hpp"

namespace fw {
namespace kern {

template <class Vec>
void delta_rule_chunk(const ScanTask& t) {
  const int64_t K = t.K, V = t.V, C = t.chunk;
  const bool gated = t.g != nullptr;
  const chunk::Buffers b = chunk::buffers<Vec>(t);
  for (int64_t c0 = 0; c0 < t.T; c0 += C) {
    const int64_t L = t.T - c0 < C ? t.T - c0 : C;
    chunk::load<Vec>(t, c0, L, b);
    for (int64_t i = 0; i < L; ++i) b.beta[i] = t.beta[(c0 + i) * t.beta_ts];

    // A (strict lower part of b.A), then beta_i on each row.
    chunk::causal_scores<Vec>(L, K, C, b.Kc, b.Kc, b.G, gated, /*strict=*/true, b.A);
    for (int64_t i = 0; i < L; ++i)
      for (int64_t j = 0; j < i; ++j) b.A[i * C + j] *= b.beta[i];

    // Forward substitution: W_i = beta_i exp(G_i) K_i - sum_{j<i} A_ij W_j,
    // U_i = beta_i V_i - sum_{j<i} A_ij U_j.
    for (int64_t i = 0; i < L; ++i) {
      const float wk = gated ? b.beta[i] * std::exp(b.G[i]) : b.beta[i];
      rows::scaled_copy<Vec>(K, wk, b.Kc + i * K, b.W + i * K);
      rows::scaled_copy<Vec>(V, b.beta[i], t.v + (c0 + i) * t.v_ts, b.U + i * V);
      for (int64_t j = 0; j < i; ++j) {
        rows::axpy<Vec>(K, -b.A[i * C + j], b.W + j * K, b.W + i * K);
        rows::axpy<Vec>(V, -b.A[i * C + j], b.U + j * V, b.U + i * V);
      }
    }

    // U' = U - W S (b.O holds W S for a moment).
    chunk::times_state<Vec>(L, K, V, b.W, t.S, b.G, /*gated=*/false, b.O);
    rows::axpy<Vec>(L * V, -1.0f, b.O, b.U);

    chunk::times_state<Vec>(L, K, V, b.Q, t.S, b.G, gated, b.O);
    chunk::causal_scores<Vec>(L, K, C, b.Q, b.Kc, b.G, gated, /*strict=*/false, b.B);
    chunk::add_causal_product<Vec>(L, V, C, b.B, b.U, b.O);
    for (int64_t i = 0; i < L; ++i)
      rows::scaled_copy<Vec>(V, t.scale, b.O + i * V, t.o + (c0 + i) * t.o_ts);
    chunk::update_state<Vec>(L, K, V, b.Kc, b.U, b.G, gated, t.S);
  }
}

}  // namespace kern
}  // namespace fw
