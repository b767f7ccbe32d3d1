// Delta rule and gated delta rule, chunked in the WY/UT form (DESIGN.md §2,
// Yang et al. 2024). Per chunk of L <= C tokens, G the in-chunk cumulative
// log-decay (zero when ungated):
//   A_ij = beta_i (k_i . k_j) exp(G_i - G_j), i > j
//   T = (I + A)^{-1}   (forward substitution, L^3 / 6: small beside the rest)
//   W = T (beta exp(G) K),  U = T (beta V)
//   U' = U - W S
//   O = scale (exp(G) (Q S) + ((Q K^T) exp(G_i - G_j) M) U')
//   S <- exp(G_last) S + (exp(G_last - G) K)^T U'
// All products but the solve are gemm_acc calls; T, A and Q K^T are
// triangular and cost half.
#pragma once

#include <cmath>

#include "kernels/common/chunk_ops.hpp"
#include "kernels/common/gemm.hpp"
#include "kernels/common/rows.hpp"
#include "kernels/kernel_table.hpp"

namespace fw {
namespace kern {

// T = (I + A)^{-1} for strictly lower-triangular A (leading dim C): row i of
// T is e_i - sum_{m < i} A_im T_m. Entries above the diagonal are zeroed
// (gemm's kCausalK reads them inside diagonal blocks).
template <class Vec>
inline void unit_lower_inverse(int64_t L, int64_t C, const float* A, float* T) {
  for (int64_t i = 0; i < L; ++i) {
    float* Ti = T + i * C;
    rows::fill<Vec>(L, 0.0f, Ti);
    Ti[i] = 1.0f;
    for (int64_t m = 0; m < i; ++m) rows::axpy<Vec>(m + 1, -A[i * C + m], T + m * C, Ti);
  }
}

template <class Vec>
void delta_rule_chunk(const ScanTask& t) {
  const int64_t K = t.K, V = t.V, C = t.chunk;
  const bool gated = t.g != nullptr;
  const chunk::Buffers b = chunk::buffers<Vec>(t);
  for (int64_t c0 = 0; c0 < t.T; c0 += C) {
    const int64_t L = t.T - c0 < C ? t.T - c0 : C;
    chunk::load<Vec>(t, c0, L, b);
    for (int64_t i = 0; i < L; ++i) b.beta[i] = t.beta[(c0 + i) * t.beta_ts];

    // A = strict_lower(beta K K^T exp(G_i - G_j)), then T = (I + A)^{-1} in b.B.
    chunk::causal_scores<Vec>(L, K, C, b.Kc, b.KT, b.G, gated, /*strict=*/true, b.A);
    for (int64_t i = 0; i < L; ++i) rows::scal<Vec>(i, b.beta[i], b.A + i * C);
    unit_lower_inverse<Vec>(L, C, b.A, b.B);

    // W = T (beta exp(G) K) and U = T (beta V); beta V waits in b.O.
    for (int64_t i = 0; i < L; ++i) {
      const float wk = gated ? b.beta[i] * std::exp(b.G[i]) : b.beta[i];
      rows::scaled_copy<Vec>(K, wk, b.Kc + i * K, b.Kb + i * K);
    }
    chunk::load_values<Vec>(t, c0, L, b.beta, b.O);
    rows::fill<Vec>(L * K, 0.0f, b.W);
    rows::fill<Vec>(L * V, 0.0f, b.U);
    gemm::gemm_acc<Vec>(gemm::kCausalK, L, K, L, b.B, C, 1, b.Kb, K, b.W, K);
    gemm::gemm_acc<Vec>(gemm::kCausalK, L, V, L, b.B, C, 1, b.O, V, b.U, V);

    // U' = U - W S: U += (-W) S.
    rows::scal<Vec>(L * K, -1.0f, b.W);
    gemm::gemm_acc<Vec>(gemm::kFull, L, V, K, b.W, K, 1, t.S, t.S_ld, b.U, V);

    // O in the workspace, written out once (see linear_attn/chunk.hpp).
    chunk::times_state<Vec>(L, K, V, b.Q, t.S, t.S_ld, b.G, gated, b.O, V);
    chunk::causal_scores<Vec>(L, K, C, b.Q, b.KT, b.G, gated, /*strict=*/false, b.A);
    chunk::add_causal_product<Vec>(L, V, C, b.A, b.U, V, b.O, V);
    chunk::store_outputs<Vec>(t, c0, L, b.O, nullptr);
    chunk::update_state<Vec>(L, K, V, b.Kc, b.U, V, b.G, gated, b.Kb, t.S, t.S_ld);
  }
}

}  // namespace kern
}  // namespace fw
