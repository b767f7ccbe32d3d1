// Linear attention, one token at a time (decode, short T; docs/design.md,
// "The math").
//   S_t = exp(g_t) S_{t-1} + k_t^T v_t;  o_t = scale * q_t S_t
//   (GLA: row i of S decays by exp(g_t,i), a gate per key channel)
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
  store_token_output<Vec>(t, s, out_scale, acc);
}

// kRows rows of a V-first state from row (the state's columns j .., K
// floats each, K a multiple of Vec::N, row stride ld), one token: updated
// and read out in one pass, each row's q S_j summed over Vec::kSumLanes
// lanes in the lane-split order of the K-first kernel (state_sweep.hpp), so
// the bits are the same; out[r] = q_t S_t's element j + r. kChannel:
// element i decays by e[i] (a per-channel gate), as the K-first kernel's
// row i does. Two rows at a time give two sums in flight: AVX-512's sum,
// 8 lanes of 16 dependent FMAs at K = 128, had made one row at a time take
// 1.24x the time in cache (T = 256, H = 4, Zen 4).
template <class Vec, int kRows, bool kChannel>
inline void linear_attn_rows_v_first(float* row, int64_t ld, int64_t K, const float* kn,
                                     const float* qn, float decay, const float* e, const float* v,
                                     float* out) {
  using VT = typename Vec::type;
  const VT vdecay = Vec::set1(decay);
  VT vv[kRows];
  typename Vec::sum_type sum[kRows];
  for (int r = 0; r < kRows; ++r) {
    vv[r] = Vec::set1(v[r]);
    sum[r] = Vec::sum_zero();
  }
  for (int64_t i = 0; i < K; i += Vec::N) {
    const VT d = kChannel ? Vec::load(e + i) : vdecay, ki = Vec::load(kn + i),
             qi = Vec::load(qn + i);
    for (int r = 0; r < kRows; ++r) {
      float* p = row + r * ld + i;
      const VT x = Vec::fma(ki, vv[r], Vec::mul(d, Vec::load(p)));
      Vec::store(p, x);
      sum[r] = Vec::sum_fma(qi, x, sum[r]);
    }
  }
  for (int r = 0; r < kRows; ++r) out[r] = Vec::sum_tree(sum[r]);
}

// Token s over every row of a V-first state (K a multiple of Vec::N): q S
// into acc. One loop per kChannel, so that the rows' loop carries no test;
// out of line, so that the per-channel copy beside it leaves the scalar
// gate's code as it was (inlined, V-first delta-rule decode at B = 64,
// HV = 32, K = V = 128 took 1.03-1.04x the time; out of line 0.97-1.01x).
template <class Vec, bool kChannel = false>
__attribute__((noinline)) void linear_attn_token_v_first(const ScanTask& t, int64_t s, float decay,
                                                         const float* e, const float* qn,
                                                         const float* kn, float* acc) {
  const float* v = token_values<Vec>(t, s);
  int64_t j = 0;
  if (s == 0) {  // the state from memory: rows in address order (two at a time took 2.1x)
    for (; j < t.V; ++j) {
      if (t.ask_state_rows && j + 4 < t.V)  // as the K-first loop
        rows::prefetch<Vec>(t.S + (j + 4) * t.S_ld, t.K, true);
      linear_attn_rows_v_first<Vec, 1, kChannel>(t.S + j * t.S_ld, t.S_ld, t.K, kn, qn, decay, e,
                                                 v + j, acc + j);
    }
    return;
  }
  for (; j + 2 <= t.V; j += 2)
    linear_attn_rows_v_first<Vec, 2, kChannel>(t.S + j * t.S_ld, t.S_ld, t.K, kn, qn, decay, e,
                                               v + j, acc + j);
  if (j < t.V)
    linear_attn_rows_v_first<Vec, 1, kChannel>(t.S + j * t.S_ld, t.S_ld, t.K, kn, qn, decay, e,
                                               v + j, acc + j);
}

template <class Vec>
void linear_attn_recurrent(const ScanTask& t) {
  const int64_t K = t.K, V = t.V;
  float* qn = t.ws;
  float* kn = qn + K;
  if (t.S_v_first && K % Vec::N == 0) {
    float* acc = kn + K;
    const float* e = recurrent_decays<Vec>(t);
    for (int64_t s = 0; s < t.T; ++s) {
      const float decay = begin_token<Vec>(t, s, qn, kn);
      if (t.g_channel)
        linear_attn_token_v_first<Vec, true>(t, s, decay, e, qn, kn, acc);
      else
        linear_attn_token_v_first<Vec>(t, s, decay, e, qn, kn, acc);
      finish_token<Vec>(t, s, qn, kn, acc);
    }
    return;
  }
  // q S in lane-split order (state_sweep.hpp): rows i = l mod G sum into
  // partial row l of `lanes`, and the partial rows are added in the halving
  // tree.
  constexpr int G = Vec::kSumLanes;
  float* lanes = recurrent_lanes<Vec>(t);
  const int64_t used = K < G ? K : G;
  // Other V-first states go through a transposed block (state_block.hpp).
  float* scratch = recurrent_block<Vec>(t);
  constexpr int64_t kBlock = sweep::block_vectors<Vec>() * Vec::N;
  static_assert(kBlock <= kMaxStateBlock, "scratch holds K x kMaxStateBlock");
  static_assert(G <= kMaxLanes, "scratch holds kMaxLanes partial rows");
  // Later tokens' runs of rows (state_sweep.hpp): 128 rows on AVX-512 (64
  // took 1.08x the time in cache, T = 256, H = 4, K = V = 128, Zen 4), 64
  // elsewhere (AVX2 with 128: 1.04x).
  constexpr int kRun = (Vec::N == 16 ? 128 : 64) / G;
  const float* e = t.g_channel ? recurrent_decays<Vec>(t) : nullptr;  // row i decays by e[i]
  for (int64_t s = 0; s < t.T; ++s) {
    const float decay = begin_token<Vec>(t, s, qn, kn);
    const float* v = token_values<Vec>(t, s);
    // Whole rows, in address order for the first token (its state comes
    // from memory), then in runs of kRun G rows (sweep::update_read_rows).
    // (Column blocks with register accumulators, as the delta rule uses,
    // made decode at B = 64, HV = 32, K = V = 128 take 17.8 ms on one
    // thread instead of 10.2: four strided passes over each state.)
    auto rows_of = [&](float* S, int64_t ld, int64_t c0, int64_t w) {
      if (s == 0)
        // The first token's rows, four ahead, asked for where that pays
        // (decode at B = 64, HV = 32, K = V = 128 took 0.95x ABI 0's time
        // with it, 1.02x without on Cascade Lake; Zen 4 1.15-1.20x).
        sweep::update_read_rows<Vec, 1, G>(K, w, decay, e, S, ld, kn, v + c0, qn, lanes + c0, V,
                                           t.ask_state_rows ? 4 : 0);
      else
        sweep::update_read_rows<Vec, kRun, G>(K, w, decay, e, S, ld, kn, v + c0, qn, lanes + c0, V,
                                              0);
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
    // (Partial rows past K, when K < G, are never formed: zeros would change
    // no sum.)
    sweep::lane_rows_tree<Vec, G>(used, V, lanes);
    finish_token<Vec>(t, s, qn, kn, lanes);
  }
}

}  // namespace kern
}  // namespace fw
