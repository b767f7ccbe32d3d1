// Linear attention, chunked (prefill): docs/design.md. Per chunk of L <= C
// tokens with in-chunk cumulative log-decay G:
//   O = (exp(G) Q) S + ((Q K^T) * exp(G_i - G_j) * M) V
//   S <- exp(G_last) S + (exp(G_last - G) K)^T V
// normalize (ungated): q_t . z_t = (Q z)_t + sum_{j <= t} (Q K^T)_tj.
// GLA (a gate per key channel): the same with exp(G) per channel, the
// scores' decays inside their sums (chunk::channel_scores).
// prepare makes the first factors of each product (kernel_table.hpp);
// advance multiplies them into the task's V columns.
#pragma once

#include "kernels/common/chunk_ops.hpp"
#include "kernels/common/rows.hpp"
#include "kernels/kernel_table.hpp"

namespace fw {
namespace kern {

template <class Vec>
void linear_attn_prepare(const ScanTask& t, int64_t c0, float* rec) {
  const int64_t K = t.K, C = t.chunk, L = chunk::chunk_length<Vec>(t, c0);
  const chunk::Record<float> r = chunk::record<Vec>(rec, K, C);
  const chunk::Scratch s = chunk::scratch<Vec>(t);
  chunk::load<Vec>(t, c0, L, r.Q, r.Kd, s.KT, r.G);
  if (t.g_channel) {  // GLA: the gates' decays take KT's place
    float *E = s.KT, *d = t.ws;
    chunk::load_channel_gates<Vec>(t, c0, L, E, t.ws + K, C);
    chunk::channel_scores<Vec>(L, K, C, r.Q, r.Kd, E, r.A, nullptr, s.CS);
    chunk::channel_prefix_decays<Vec>(L, K, E, r.G);
    chunk::decay_rows<Vec>(L, K, r.G, r.Q);
    chunk::channel_decay_keys<Vec>(L, K, E, r.Kd, d);
    return;
  }
  chunk::causal_scores<Vec>(L, K, C, r.Q, s.KT, r.G, t.g.p != nullptr, /*strict=*/false, r.A);
  chunk::decay_queries<Vec>(L, K, r.G, t.g.p != nullptr, r.Q);
  chunk::decay_keys<Vec>(L, K, r.G, t.g.p != nullptr, r.Kd);
}

template <class Vec>
void linear_attn_advance(const ScanTask& t, int64_t c0, const float* rec) {
  const int64_t K = t.K, V = t.V, C = t.chunk, L = chunk::chunk_length<Vec>(t, c0);
  const chunk::Record<const float> r = chunk::record<Vec>(rec, K, C);
  const chunk::Scratch s = chunk::scratch<Vec>(t);
  // V rows are copied, not read in place: one head's rows sit 8 KiB apart
  // (16 heads of 128), all in one L1 set, and the gemm passes that re-read
  // them thrashed it (the 4x1 panel of the state update alone took 22% of
  // the time in perf).
  chunk::load_values<Vec>(t, c0, L, nullptr, s.X, C);
  // O is built in the (cache-hot) workspace and written out once: built in
  // place in the caller's output rows, this ran 20% slower (124 vs 103 ms,
  // T = 4096, H = 16, K = V = 128, AVX-512, one thread), the read-modify-
  // write passes of gemm landing on cold lines.
  chunk::times_state<Vec>(/*accumulate=*/false, L, K, V, r.Q, t.S, t.S_ld, s.O, V);
  chunk::add_causal_product<Vec>(L, V, C, r.A, s.X, V, s.O, V);
  float* factor = s.U;  // normalize only: scale / (scale q . z + eps) per row
  if (t.normalize) {
    for (int64_t i = 0; i < L; ++i) {
      float den = rows::dot<Vec>(K, r.Q + i * K, t.z);
      for (int64_t j = 0; j <= i; ++j) den += r.A[i * C + j];
      factor[i] = t.scale / (t.scale * den + t.eps);
    }
    for (int64_t j = 0; j < L; ++j) rows::axpy<Vec>(K, 1.0f, r.Kd + j * K, t.z);
  }
  chunk::store_outputs<Vec>(t, c0, L, s.O, t.normalize ? factor : nullptr);
  chunk::update_state<Vec>(L, K, V, r.Kd, s.X, V, r.G, t.g.p != nullptr, t.g_channel, t.S, t.S_ld,
                           t.S_copy);
}

}  // namespace kern
}  // namespace fw
