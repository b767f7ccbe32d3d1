// Delta rule and gated delta rule, one token at a time (docs/design.md,
// "The math").
//   S' = exp(g_t) S_{t-1}   (g absent: S' = S_{t-1}; KDA: diag(exp(g_t)) S_{t-1},
//                            a gate per key channel)
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

#include "kernels/common/gates.hpp"
#include "kernels/common/rows.hpp"
#include "kernels/common/state_block.hpp"
#include "kernels/common/state_sweep.hpp"
#include "kernels/common/token_prefetch.hpp"
#include "kernels/kernel_table.hpp"

namespace fw {
namespace kern {

// Row j of a V-first state (the state's column j, K floats, K a multiple
// of Vec::N), one token: read, updated and read out in one pass, its sums
// over K in the lane-split order of the K-first sweeps (state_sweep.hpp),
// so the bits are the K-first ones. Returns q_t S_t's element j. (Two or
// four rows side by side were slower: 1.16x and 1.39x, docs/decisions.md.)
// kChannel (KDA): the read is k e S_j (ke = k * e, from begin_token) and
// element i decays by e[i], as the K-first kernel's row i.
template <class Vec, bool kChannel = false>
inline float delta_rule_row_v_first(float* row, int64_t K, const float* kn, const float* qn,
                                    float decay, const float* e, float beta, float v) {
  using VT = typename Vec::type;
  const float* kr = kChannel ? e + K : kn;
  VT sum = Vec::zero();
  for (int64_t i = 0; i < K; i += Vec::N)
    sum = Vec::fma(Vec::load(kr + i), Vec::load(row + i), sum);
  float w = decay * Vec::tree_sum(sum);  // the K-first kernel's scal, rsub, scal
  w = v - w;
  w = beta * w;
  const VT vw = Vec::set1(w), vdecay = Vec::set1(decay);
  sum = Vec::zero();
  for (int64_t i = 0; i < K; i += Vec::N) {
    const VT d = kChannel ? Vec::load(e + i) : vdecay;
    const VT r = Vec::fma(Vec::load(kn + i), vw, Vec::mul(d, Vec::load(row + i)));
    Vec::store(row + i, r);
    sum = Vec::fma(Vec::load(qn + i), r, sum);
  }
  return Vec::tree_sum(sum);
}

// Token s over every row of a V-first state (K a multiple of Vec::N): q S
// into acc. One loop per kChannel, so that the rows' loop carries no test;
// out of line, so that the per-channel copy beside it leaves the scalar
// gate's code as it was (inlined, V-first delta-rule decode at B = 64,
// HV = 32, K = V = 128 took 1.03-1.04x the time; out of line 0.97-1.01x).
template <class Vec, bool kChannel = false>
__attribute__((noinline)) void delta_rule_token_v_first(const ScanTask& t, int64_t s, float decay,
                                                        const float* e, const float* qn,
                                                        const float* kn, float* acc) {
  const float beta = gates::beta_at<Vec>(t, s);
  const float* v = token_values<Vec>(t, s);
  for (int64_t j = 0; j < t.V; ++j) {
    // The first token's rows, four ahead, asked for (later tokens find
    // them in cache): 0.85x the time without (decode, B = 64, HV = 32,
    // K = V = 128, one thread, AVX-512, Cascade Lake; Zen 4: 1.13x).
    if (t.ask_state_rows && s == 0 && j + 4 < t.V)
      rows::prefetch<Vec>(t.S + (j + 4) * t.S_ld, t.K, true);
    acc[j] =
        delta_rule_row_v_first<Vec, kChannel>(t.S + j * t.S_ld, t.K, kn, qn, decay, e, beta, v[j]);
  }
}

// One token over a K-first state in two sweeps of whole rows in order (k S'
// with the partial sums in rows of L1, then the update and q S through
// linear attention's sweep::update_read_rows), in the lane-split order of
// the column blocks below, so the bits are theirs. For a state that comes from memory (the
// first token of a call; ScanTask::row_sweeps says on which CPUs): the
// blocks' strided passes kept Zen 4's prefetchers from streaming it. Returns
// q S (lane-split) in lanes; d: V floats.
template <class Vec>
__attribute__((noinline)) void delta_rule_row_token(const ScanTask& t, float decay, float beta,
                                                    const float* v, const float* qn,
                                                    const float* kn, const float* e, float* d,
                                                    float* lanes) {
  const int64_t K = t.K, V = t.V;
  constexpr int G = Vec::N;
  const int64_t used = K < G ? K : G;
  const float* kread = e ? e + K : kn;
  rows::fill<Vec>(used * V, 0.0f, lanes);
  for (int64_t i = 0; i < K; ++i)
    rows::axpy<Vec>(V, kread[i], t.S + i * t.S_ld, lanes + (i % G) * V);
  sweep::lane_rows_tree<Vec>(used, V, lanes);
  rows::scaled_copy<Vec>(V, decay, lanes, d);
  rows::rsub<Vec>(V, v, d);
  rows::scal<Vec>(V, beta, d);
  sweep::update_read_rows<Vec, 1>(K, V, decay, e, t.S, t.S_ld, kn, d, qn, lanes, V, 0);
  sweep::lane_rows_tree<Vec>(used, V, lanes);
}

template <class Vec>
void delta_rule_recurrent(const ScanTask& t) {
  const int64_t K = t.K, V = t.V;
  float* qn = t.ws;
  float* kn = qn + K;
  float* d = kn + K;  // k S, then the write vector beta (v - k S')
  float* acc = d + V;
  // Per-channel gate (KDA): decays e and the read vector k * e (begin_token).
  const float* e = t.g_channel ? recurrent_decays<Vec>(t) : nullptr;
  const float* kread = e ? e + K : kn;
  if (t.S_v_first && K % Vec::N == 0) {
    for (int64_t s = 0; s < t.T; ++s) {
      const float decay = begin_token<Vec>(t, s, qn, kn);
      if (e)
        delta_rule_token_v_first<Vec, true>(t, s, decay, e, qn, kn, acc);
      else
        delta_rule_token_v_first<Vec>(t, s, decay, e, qn, kn, acc);
      store_token_output<Vec>(t, s, t.scale, acc);
    }
    return;
  }
  // Other V-first states go through a transposed block (state_block.hpp).
  float* scratch = recurrent_block<Vec>(t);
  constexpr int64_t kBlock = sweep::block_vectors<Vec>() * Vec::N;
  static_assert(kBlock <= kMaxStateBlock, "scratch holds K x kMaxStateBlock");
  for (int64_t s = 0; s < t.T; ++s) {
    const float decay = begin_token<Vec>(t, s, qn, kn);
    const float beta = gates::beta_at<Vec>(t, s);
    const float* v = token_values<Vec>(t, s);
    if (t.row_sweeps && s == 0 && !t.S_v_first) {
      float* lanes = recurrent_lanes<Vec>(t);
      delta_rule_row_token<Vec>(t, decay, beta, v, qn, kn, e, d, lanes);
      store_token_output<Vec>(t, s, t.scale, lanes);
      continue;
    }
    for (int64_t c0 = 0; c0 < V; c0 += kBlock) {
      const int64_t w = V - c0 < kBlock ? V - c0 : kBlock;
      const state_block::Block blk = state_block::acquire<Vec>(t, c0, w, scratch);
      float* S = blk.S;
      // The last, partial block: its whole vectors one at a time, then single
      // columns. All its columns singly made V = 16 on AVX-512 take 4-6x
      // V = 32's time (64 pairs, T = 65, K = 32, one thread: 16.2 ms against
      // 3.4; now 3.1). A column's sums run in the same order either way.
      const int64_t whole = w == kBlock ? w : w / Vec::N * Vec::N;
      if (w == kBlock) {
        sweep::read<Vec>(K, kread, S, blk.ld, d);
      } else {
        for (int64_t j = 0; j < whole; j += Vec::N)
          sweep::read<Vec, 1>(K, kread, S + j, blk.ld, d + j);
        for (int64_t j = whole; j < w; ++j) d[j] = sweep::read_column<Vec>(K, kread, S + j, blk.ld);
      }
      rows::scal<Vec>(w, decay, d);
      rows::rsub<Vec>(w, v + c0, d);
      rows::scal<Vec>(w, beta, d);
      if (w == kBlock) {
        if (e)
          sweep::update_read<Vec, true>(K, decay, e, S, blk.ld, kn, d, qn, acc + c0);
        else
          sweep::update_read<Vec>(K, decay, nullptr, S, blk.ld, kn, d, qn, acc + c0);
      } else {
        for (int64_t j = 0; j < whole; j += Vec::N) {
          if (e)
            sweep::update_read<Vec, true, 1>(K, decay, e, S + j, blk.ld, kn, d + j, qn,
                                             acc + c0 + j);
          else
            sweep::update_read<Vec, false, 1>(K, decay, nullptr, S + j, blk.ld, kn, d + j, qn,
                                              acc + c0 + j);
        }
        for (int64_t j = whole; j < w; ++j)
          acc[c0 + j] = sweep::update_read_column<Vec>(K, decay, e, S + j, blk.ld, kn, d[j], qn);
      }
      state_block::release<Vec>(t, c0, w, blk);
    }
    store_token_output<Vec>(t, s, t.scale, acc);
  }
}

}  // namespace kern
}  // namespace fw
