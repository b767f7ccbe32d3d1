// Linear attention, one token at a time (decode, short T; docs/design.md,
// "The math").
//   S_t = exp(g_t) S_{t-1} + k_t^T v_t;  o_t = scale * q_t S_t
//   normalize: z_t = z_{t-1} + k_t;  o_t = scale q_t S_t / (scale q_t . z_t + eps)
// One sweep over S per token: each state row is decayed, written and read
// out while it is in registers.
#pragma once

#include <cmath>

#include "kernels/common/rows.hpp"
#include "kernels/common/state_block.hpp"
#include "kernels/common/state_sweep.hpp"
#include "kernels/common/token_prefetch.hpp"
#include "kernels/kernel_table.hpp"

namespace fw {
namespace kern {

// o_t from acc = q_t S_t: scaled, or normalised by the updated z.
template <class Vec>
inline void finish_token(const ScanTask& t, int64_t s, const float* qn, const float* kn,
                         const float* acc) {
  float out_scale = t.scale;
  if (t.normalize) {
    rows::axpy<Vec>(t.K, 1.0f, kn, t.z);
    out_scale = t.scale / (t.scale * rows::dot<Vec>(t.K, qn, t.z) + t.eps);
  }
  rows::scaled_copy<Vec>(t.V, out_scale, acc, t.o + s * t.o_ts);
}

// R rows j0 .. j0 + R - 1 of a V-first state (row j = the state's column
// j, K floats, K a multiple of the sums' lane count G), one token: each row
// is updated and read out while in L1, q S_j summed on G-lane vectors in
// the lane-split order of the K-first kernel (state_sweep.hpp), so the bits
// are the same; R rows side by side keep R sums in flight.
template <class Vec, int R>
inline void linear_attn_rows_v_first(const ScanTask& t, int64_t j0, const float* kn,
                                     const float* qn, float decay, const float* v, float* acc) {
  using Sum = Vec;
  using ST = typename Sum::type;
  const int64_t K = t.K;
  const typename Vec::type vdecay = Vec::set1(decay);
  float* row[R];
  ST sum[R];
  for (int r = 0; r < R; ++r) {
    row[r] = t.S + (j0 + r) * t.S_ld;
    sum[r] = Sum::zero();
    const typename Vec::type vj = Vec::set1(v[j0 + r]);
    int64_t i = 0;
    for (; i + Vec::N <= K; i += Vec::N)
      Vec::store(row[r] + i,
                 Vec::fma(Vec::load(kn + i), vj, Vec::mul(vdecay, Vec::load(row[r] + i))));
    for (; i < K; ++i) row[r][i] = Vec::fma1(kn[i], v[j0 + r], decay * row[r][i]);
  }
  for (int64_t i = 0; i < K; i += Sum::N) {
    const ST qi = Sum::load(qn + i);
    for (int r = 0; r < R; ++r) sum[r] = Sum::fma(qi, Sum::load(row[r] + i), sum[r]);
  }
  for (int r = 0; r < R; ++r) acc[j0 + r] = Sum::tree_sum(sum[r]);
}

template <class Vec>
void linear_attn_recurrent_v_first(const ScanTask& t) {
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
    const float* v = t.v + s * t.v_ts;
    int64_t j = 0;
    for (; j + kRows <= V; j += kRows)
      linear_attn_rows_v_first<Vec, kRows>(t, j, kn, qn, decay, v, acc);
    for (; j < V; ++j) linear_attn_rows_v_first<Vec, 1>(t, j, kn, qn, decay, v, acc);
    finish_token<Vec>(t, s, qn, kn, acc);
  }
}

template <class Vec>
void linear_attn_recurrent(const ScanTask& t) {
  const int64_t K = t.K, V = t.V;
  if (t.S_v_first && K % Vec::N == 0) return linear_attn_recurrent_v_first<Vec>(t);
  float* qn = t.ws;
  float* kn = qn + K;
  // q S in lane-split order (state_sweep.hpp): row i adds into partial row
  // i mod G of `lanes`, and the partial rows are added in the halving tree.
  constexpr int G = Vec::N;
  float* lanes = kn + K + 2 * V;
  const int64_t used = K < G ? K : G;
  // Other V-first states go through a transposed block (state_block.hpp).
  float* scratch = lanes + kMaxLanes * V;
  constexpr int64_t kBlock = sweep::kNB * Vec::N;
  static_assert(kBlock <= kMaxStateBlock, "scratch holds K x kMaxStateBlock");
  static_assert(G <= kMaxLanes, "scratch holds kMaxLanes partial rows");
  for (int64_t s = 0; s < t.T; ++s) {
    prefetch_token_ahead<Vec>(t, s);
    rows::load_row<Vec>(K, t.q + s * t.q_ts, qn, t.qk_l2norm);
    rows::load_row<Vec>(K, t.k + s * t.k_ts, kn, t.qk_l2norm);
    const float decay = t.g ? std::exp(t.g[s * t.g_ts]) : 1.0f;
    const float* v = t.v + s * t.v_ts;
    // Row-major: one streaming pass. (Column blocks with register
    // accumulators, as the delta rule uses, made decode at B = 64, HV = 32,
    // K = V = 128 take 17.8 ms on one thread instead of 10.2: four strided
    // passes over each state.)
    // Rows i < G start their partial sums from zero (no fill pass).
    auto rows_of = [&](float* S, int64_t ld, int64_t c0, int64_t w) {
      for (int64_t i = 0; i < used; ++i)
        rows::update_and_read<Vec, true>(w, decay, S + i * ld, kn[i], v + c0, qn[i],
                                         lanes + i * V + c0);
      for (int64_t i = used; i < K; ++i)
        rows::update_and_read<Vec>(w, decay, S + i * ld, kn[i], v + c0, qn[i],
                                   lanes + (i % G) * V + c0);
    };
    if (!t.S_v_first) {
      rows_of(t.S, t.S_ld, 0, V);
    } else {  // column blocks through scratch, the same operations per element
      for (int64_t c0 = 0; c0 < V; c0 += kBlock) {
        const int64_t w = V - c0 < kBlock ? V - c0 : kBlock;
        const state_block::Block blk = state_block::acquire<Vec>(t, c0, w, scratch);
        rows_of(blk.S, blk.ld, c0, w);
        state_block::release<Vec>(t, c0, w, blk);
      }
    }
    // (Rows past K hold zeros, which change no sum: skipped. fma(1, x, y) is
    // the sum x + y rounded once, as the tree's additions are.)
    for (int h = G / 2; h >= 1; h /= 2)
      for (int l = 0; l < h && l + h < used; ++l)
        rows::axpy<Vec>(V, 1.0f, lanes + (l + h) * V, lanes + l * V);
    finish_token<Vec>(t, s, qn, kn, lanes);
  }
}

}  // namespace kern
}  // namespace fw
