// Delta rule and gated delta rule, chunked in the WY/UT form (docs/design.md,
// Yang et al. 2024). Per chunk of L <= C tokens, G the in-chunk cumulative
// log-decay (zero when ungated):
//   A_ij = beta_i (k_i . k_j) exp(G_i - G_j), i > j
//   T = (I + A)^{-1}   (forward substitution, L^3 / 6: small beside the rest)
//   W = T (beta exp(G) K),  U = T (beta V)
//   U' = U - W S
//   O = scale ((exp(G) Q) S + ((Q K^T) exp(G_i - G_j) M) U')
//   S <- exp(G_last) S + (exp(G_last - G) K)^T U'
// prepare computes T, W and the scores (all independent of S, and of V);
// advance the rest, for the task's V columns. All products but the solve
// are gemm calls; T, A and Q K^T are triangular and cost half.
// KDA (a gate per key channel): exp(G) per channel everywhere, the scores'
// decays inside their sums (chunk::channel_scores).
#pragma once

#include <cmath>

#include "kernels/common/chunk_ops.hpp"
#include "kernels/common/gates.hpp"
#include "kernels/common/gemm.hpp"
#include "kernels/common/rows.hpp"
#include "kernels/kernel_table.hpp"

namespace fw {
namespace kern {

// T = (I + A)^{-1} for strictly lower-triangular A (leading dim C): row i of
// T is e_i - sum_{m < i} A_im T_m, accumulated into a zeroed row (the
// entries above the diagonal stay zero; gemm's kCausalK never reads them).
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
void delta_rule_prepare(const ScanTask& t, int64_t c0, float* rec) {
  const int64_t K = t.K, C = t.chunk, L = chunk::chunk_length<Vec>(t, c0);
  const bool gated = t.g.p != nullptr;
  const chunk::Record<float> r = chunk::record<Vec>(rec, K, C);
  const chunk::Scratch s = chunk::scratch<Vec>(t);
  chunk::load<Vec>(t, c0, L, r.Q, r.Kd, s.KT, r.G);  // keys, decayed last
  for (int64_t i = 0; i < L; ++i) r.beta[i] = gates::beta_at<Vec>(t, c0 + i);
  // KDA (a gate per key channel): the gates' decays take KT's place, and both
  // score matrices come from one pass (chunk::channel_scores).
  float *E = s.KT, *d = t.ws;
  if (t.g_channel) {
    chunk::load_channel_gates<Vec>(t, c0, L, E, t.ws + K, C);
    chunk::channel_scores<Vec>(L, K, C, r.Q, r.Kd, E, r.A, s.M, s.CS);
    chunk::channel_prefix_decays<Vec>(L, K, E, r.G);
  }

  // A = strict_lower(beta K K^T exp(G_i - G_j)) in s.M, then T = (I + A)^{-1}.
  if (!t.g_channel)
    chunk::causal_scores<Vec>(L, K, C, r.Kd, s.KT, r.G, gated, /*strict=*/true, s.M);
  for (int64_t i = 0; i < L; ++i) rows::scal<Vec>(i, r.beta[i], s.M + i * C);
  unit_lower_inverse<Vec>(L, C, s.M, r.T);

  // -W = T (-beta exp(G) K): negated once here, so that advance's
  // U' = U - W S is one accumulating product per V slice.
  for (int64_t i = 0; i < L; ++i) {
    const float wk = gated && !t.g_channel ? r.beta[i] * std::exp(r.G[i]) : r.beta[i];
    rows::scaled_copy<Vec>(K, -wk, r.Kd + i * K, s.Kb + i * K);
  }
  if (t.g_channel) chunk::decay_rows<Vec>(L, K, r.G, s.Kb);
  gemm::gemm_set<Vec>(gemm::kCausalK, L, K, L, r.T, C, 1, s.Kb, K, r.W, K);

  if (t.g_channel) {
    chunk::decay_rows<Vec>(L, K, r.G, r.Q);
    chunk::channel_decay_keys<Vec>(L, K, E, r.Kd, d);
    return;
  }
  chunk::causal_scores<Vec>(L, K, C, r.Q, s.KT, r.G, gated, /*strict=*/false, r.A);
  chunk::decay_queries<Vec>(L, K, r.G, gated, r.Q);
  chunk::decay_keys<Vec>(L, K, r.G, gated, r.Kd);
}

template <class Vec>
void delta_rule_advance(const ScanTask& t, int64_t c0, const float* rec) {
  const int64_t K = t.K, V = t.V, C = t.chunk, L = chunk::chunk_length<Vec>(t, c0);
  const chunk::Record<const float> r = chunk::record<Vec>(rec, K, C);
  const chunk::Scratch s = chunk::scratch<Vec>(t);
  // U' = T (beta V) - W S.
  chunk::load_values<Vec>(t, c0, L, r.beta, s.X, C);
  gemm::gemm_set<Vec>(gemm::kCausalK, L, V, L, r.T, C, 1, s.X, V, s.U, V);
  chunk::times_state<Vec>(/*accumulate=*/true, L, K, V, r.W, t.S, t.S_ld, s.U, V);

  // O in the workspace, written out once (see linear_attn/chunk.hpp).
  chunk::times_state<Vec>(/*accumulate=*/false, L, K, V, r.Q, t.S, t.S_ld, s.O, V);
  chunk::add_causal_product<Vec>(L, V, C, r.A, s.U, V, s.O, V);
  chunk::store_outputs<Vec>(t, c0, L, s.O, nullptr);
  chunk::update_state<Vec>(L, K, V, r.Kd, s.U, V, r.G, t.g.p != nullptr, t.g_channel, t.S, t.S_ld,
                           t.S_copy);
}

}  // namespace kern
}  // namespace fw
