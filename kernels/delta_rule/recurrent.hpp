// Delta rule and gated delta rule, one token at a time (docs/design.md,
// "The math").
//   S' = exp(g_t) S_{t-1}   (g absent: S' = S_{t-1})
//   S_t = S' + beta_t k_t^T (v_t - k_t S')      "forget before error"
//   o_t = scale * q_t S_t
// The two sweeps over S (k S, then decay-write-read) run per block of
// columns, so the block read by the first sweep is still in L1 for the
// second: a state larger than the caches crosses the memory bus once per
// token (read + write) instead of being read twice. A block is 2 vectors
// wide (32 columns on AVX-512: K = 128 rows make 16 KiB, inside every L1d we
// target), its lane-split sums in registers (state_sweep.hpp).
#pragma once

#include <cmath>

#include "kernels/common/rows.hpp"
#include "kernels/common/state_block.hpp"
#include "kernels/common/state_sweep.hpp"
#include "kernels/common/token_prefetch.hpp"
#include "kernels/kernel_table.hpp"

namespace fw {
namespace kern {

// R rows j0 .. j0 + R - 1 of a V-first state (row j = the state's column
// j, K floats, K a multiple of the sums' lane count G), one token: each row
// is read, updated and read out while it is in L1, its sums over K on
// G-lane vectors in the K-first sweeps' lane-split order (state_sweep.hpp),
// so the bits are the K-first ones. R rows side by side keep R sums in
// flight: one row at a time waits on each sum's FMA chain (delta-rule
// decode at B = 64, HV = 32, K = V = 128 took 1.28x the K-first time).
template <class Vec, int R>
inline void delta_rule_rows_v_first(const ScanTask& t, int64_t j0, const float* kn, const float* qn,
                                    float decay, float beta, const float* v, float* acc) {
  using Sum = Vec;
  using ST = typename Sum::type;
  const int64_t K = t.K;
  float* row[R];
  ST sum[R];
  for (int r = 0; r < R; ++r) {
    row[r] = t.S + (j0 + r) * t.S_ld;
    sum[r] = Sum::zero();
  }
  for (int64_t i = 0; i < K; i += Sum::N) {
    const ST ki = Sum::load(kn + i);
    for (int r = 0; r < R; ++r) sum[r] = Sum::fma(ki, Sum::load(row[r] + i), sum[r]);
  }
  const typename Vec::type vdecay = Vec::set1(decay);
  for (int r = 0; r < R; ++r) {
    float w = decay * Sum::tree_sum(sum[r]);  // the K-first kernel's scal, rsub, scal
    w = v[j0 + r] - w;
    w = beta * w;
    const typename Vec::type vw = Vec::set1(w);
    int64_t i = 0;
    for (; i + Vec::N <= K; i += Vec::N)
      Vec::store(row[r] + i,
                 Vec::fma(Vec::load(kn + i), vw, Vec::mul(vdecay, Vec::load(row[r] + i))));
    for (; i < K; ++i) row[r][i] = Vec::fma1(kn[i], w, decay * row[r][i]);
    sum[r] = Sum::zero();
  }
  for (int64_t i = 0; i < K; i += Sum::N) {
    const ST qi = Sum::load(qn + i);
    for (int r = 0; r < R; ++r) sum[r] = Sum::fma(qi, Sum::load(row[r] + i), sum[r]);
  }
  for (int r = 0; r < R; ++r) acc[j0 + r] = Sum::tree_sum(sum[r]);
}

template <class Vec>
void delta_rule_recurrent_v_first(const ScanTask& t) {
  const int64_t K = t.K, V = t.V;
  float* qn = t.ws;
  float* kn = qn + K;
  float* acc = kn + K;
  constexpr int kRows = 1;
  for (int64_t s = 0; s < t.T; ++s) {
    prefetch_token_ahead<Vec>(t, s);
    rows::load_row<Vec>(K, t.q + s * t.q_ts, qn, t.qk_l2norm);
    rows::load_row<Vec>(K, t.k + s * t.k_ts, kn, t.qk_l2norm);
    const float decay = t.g ? std::exp(t.g[s * t.g_ts]) : 1.0f;
    const float beta = t.beta[s * t.beta_ts];
    const float* v = t.v + s * t.v_ts;
    int64_t j = 0;
    for (; j + kRows <= V; j += kRows)
      delta_rule_rows_v_first<Vec, kRows>(t, j, kn, qn, decay, beta, v, acc);
    for (; j < V; ++j) delta_rule_rows_v_first<Vec, 1>(t, j, kn, qn, decay, beta, v, acc);
    rows::scaled_copy<Vec>(V, t.scale, acc, t.o + s * t.o_ts);
  }
}

template <class Vec>
void delta_rule_recurrent(const ScanTask& t) {
  const int64_t K = t.K, V = t.V;
  if (t.S_v_first && K % Vec::N == 0) return delta_rule_recurrent_v_first<Vec>(t);
  float* qn = t.ws;
  float* kn = qn + K;
  float* d = kn + K;  // k S, then the write vector beta (v - k S')
  float* acc = d + V;
  // Other V-first states go through a transposed block (state_block.hpp).
  float* scratch = acc + V + kMaxLanes * V;
  constexpr int64_t kBlock = sweep::kNB * Vec::N;
  static_assert(kBlock <= kMaxStateBlock, "scratch holds K x kMaxStateBlock");
  for (int64_t s = 0; s < t.T; ++s) {
    prefetch_token_ahead<Vec>(t, s);
    rows::load_row<Vec>(K, t.q + s * t.q_ts, qn, t.qk_l2norm);
    rows::load_row<Vec>(K, t.k + s * t.k_ts, kn, t.qk_l2norm);
    const float decay = t.g ? std::exp(t.g[s * t.g_ts]) : 1.0f;
    const float beta = t.beta[s * t.beta_ts];
    const float* v = t.v + s * t.v_ts;
    for (int64_t c0 = 0; c0 < V; c0 += kBlock) {
      const int64_t w = V - c0 < kBlock ? V - c0 : kBlock;
      const state_block::Block blk = state_block::acquire<Vec>(t, c0, w, scratch);
      float* S = blk.S;
      if (w == kBlock) {
        sweep::read<Vec>(K, kn, S, blk.ld, d);
      } else {  // the last, partial block
        for (int64_t j = 0; j < w; ++j) d[j] = sweep::read_column<Vec>(K, kn, S + j, blk.ld);
      }
      rows::scal<Vec>(w, decay, d);
      rows::rsub<Vec>(w, v + c0, d);
      rows::scal<Vec>(w, beta, d);
      if (w == kBlock) {
        sweep::update_read<Vec>(K, decay, S, blk.ld, kn, d, qn, acc + c0);
      } else {
        for (int64_t j = 0; j < w; ++j)
          acc[c0 + j] = sweep::update_read_column<Vec>(K, decay, S + j, blk.ld, kn, d[j], qn);
      }
      state_block::release<Vec>(t, c0, w, blk);
    }
    rows::scaled_copy<Vec>(V, t.scale, acc, t.o + s * t.o_ts);
  }
}

}  // namespace kern
}  // namespace fw
