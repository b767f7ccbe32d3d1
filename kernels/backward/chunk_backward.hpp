// The chunked backward of every scan: docs/design.md, "The backward". Per
// pair:
//  1. the states at every chunk boundary, from the keys and values alone
//     (no output is formed);
//  2. the chunks last first: the chunk's factors again (as the forward's
//     prepare makes them: decayed queries and keys, scores A, cumulative
//     log-decays G, for the delta rules T and -W), then the forward's
//     products transposed, with dOs = scale dO, U' the chunk's values
//     (delta rules: T beta V - W S), Gm_ij = exp(G_i - G_j) (j <= i):
//       dU' = A^T dOs + Kd dS
//       dq^ = exp(G) (dOs S^T) + (dA o Gm) k^,   dA = dOs U'^T
//       dk^ = exp(G_last - G) (U' dS^T) + (dA o Gm)^T q^
//       delta rules, with U' = U - W S, U = T beta V, W = T beta exp(G) K,
//       T = (I + A_k)^{-1}, A_k = strict_lower(beta (K K^T o Gm)):
//         dv = beta (T^T dU'), dW = -dU' S^T, dT = dU' (beta V)^T + dW
//         (beta exp(G) K)^T, dA_k = -T^T dT T^T, and their beta and k parts
//       dS <- exp(G_last) dS + (exp(G) Q)^T dOs - W^T dU'
//  3. the gate's gradient, chunk by chunk (G is the chunk's own). A scalar
//     gate's term by term: each exp(G) that scales a product passes the
//     product's share of the loss to its G's:
//       dG_i = q^_i . (exp(G_i) S dOs_i^T)          q^ reads the state
//            + sum_{j<i} X_ij - sum_{j>i} X_ji      X = A o dA, and the
//                                                   delta rules' beta M o dA_k
//            - Y_i (i < last; the last token: + the other Y's
//              + exp(G_last) <dS, S>)               Y_i = k^_i . exp(G_last
//                                                   - G_i) (U'_i dS^T)
//            - beta_i exp(G_i) k^_i . (T^T P)_i     delta rules: W's rows
//     and dg_s = the sum of dG_i over i >= s in s's chunk. (The identity
//     below taken for a scalar gate, dG_t = q^ . dq^ - v . dv, cancels
//     terms the size of dq and dv down to a dg far smaller at strong gates:
//     a relative error of 3.8e-4 at K = 128, g in [-20, 0], T = 40.) A gate
//     per channel: scaled by exp(G_t), q_t reads o_t, v_t writes exp(-G_t)
//     k_t v_t^T, and the state after the chunk is exp(G_last) times the
//     rest, so per channel GLA's k_t (which only writes) gives dG_t,k =
//     q_t,k dq_t,k - k_t,k dk_t,k (+ <dS_k, S_k> of the state after the
//     chunk at its last token); KDA's k also reads the state (k_t . S'
//     meets exp(+G_t)), so the part of dk from those reads (dkr) counts
//     twice the other way: dG_t,k = q dq - k dk + 2 k dkr. The in-chunk
//     decays stay inside the sums over channels, in the forward's
//     channel_scores blocks (channel_scores_backward).
// Every product but the per-channel diagonal walks is a gemm call; per
// chunk the C x C ones are small.
#pragma once

#include <cmath>
#include <cstdint>

#include "kernels/backward/scan_backward.hpp"
#include "kernels/common/chunk_ops.hpp"
#include "kernels/common/convert.hpp"
#include "kernels/common/gates.hpp"
#include "kernels/common/gemm.hpp"
#include "kernels/common/rows.hpp"
#include "kernels/delta_rule/chunk.hpp"
#include "kernels/kernel_table.hpp"

namespace fw {
namespace kern {
namespace chunk_backward {

// The blocks of one pair's scratch (chunk_backward_scratch's layout): its
// own first, then those it shares with the pairs in lockstep.
struct Blocks {
  // The pair's own.
  float *states, *dS;  // K x V ((chunks + 1) states)
  float* zs;           // normalize: z at every chunk boundary, then dz's carry
  float* carry;        // per-channel gates: dg's sums (K)
  float* Us;           // the delta rules' U' of every chunk (C x V each), or null
  // Shared. C x K (KhT, KbT, KC: K x C):
  float *Qh, *Kh, *KhT, *Qt, *Kd, *Wn, *dq, *dk, *P, *TP, *KbT, *KC;
  float *E, *Pc;         // per-channel gates: decays, decays from the chunk's start
  float* dkr;            // KDA: the part of dk from k's reads of the state
  float* dZ;             // normalize: the gradient of each token's z; per-channel gates: dg's rows
  float *factor, *gden;  // normalize: scale / den per token, den's gradient (C)
  float *dOs, *Vr, *X, *Up, *dUp, *UT, *XT, *dOT, *dUT;  // C x V (UT .. dUT: V x C)
  float *A, *T, *M, *dA, *dT, *Y, *TT;                   // C x C
  float *G, *beta, *dbeta, *dG;                          // C (dG: a scalar gate's, per token)
  float* CS;                                             // channel_scores' scratch
};

// Pair `index` of `pairs`.
template <class Vec>
inline Blocks blocks(float* ws, int64_t T, int64_t K, int64_t V, int64_t C, bool saved,
                     bool keep_values, int64_t pairs, int64_t index) {
  const ChunkBackwardScratch layout = chunk_backward_scratch(T, K, V, C, saved, keep_values);
  Blocks b;
  float* p = ws + index * layout.per_pair;
  auto take = [&](float** x, int64_t n) {
    *x = p;
    p += n;
  };
  take(&b.states, (saved ? 2 : layout.chunks + 1) * K * V);
  take(&b.dS, K * V);
  take(&b.zs, (layout.chunks + 2) * K);
  take(&b.carry, K);
  b.Us = nullptr;
  if (keep_values) take(&b.Us, layout.chunks * C * V);
  // The lists' lengths are chunk_backward_scratch's counts, checked here.
  // Qt then Wn, dOs then dUp: dS's update takes each pair as one product
  // of 2 C rows.
  p = ws + pairs * layout.per_pair;
  float** ck[] = {&b.Qh, &b.Kh, &b.KhT, &b.Qt, &b.Wn, &b.Kd, &b.dq,  &b.dk,
                  &b.P,  &b.TP, &b.KbT, &b.KC, &b.E,  &b.Pc, &b.dkr, &b.dZ};
  float** cv[] = {&b.dOs, &b.dUp, &b.Vr, &b.X, &b.Up, &b.UT, &b.XT, &b.dOT, &b.dUT};
  float** cc[] = {&b.A, &b.T, &b.M, &b.dA, &b.dT, &b.Y, &b.TT};
  float** c1[] = {&b.G, &b.beta, &b.dbeta, &b.factor, &b.gden, &b.dG};
  static_assert(sizeof ck / sizeof ck[0] == ChunkBackwardScratch::kRowsK, "C x K blocks");
  static_assert(sizeof cv / sizeof cv[0] == ChunkBackwardScratch::kRowsV, "C x V blocks");
  static_assert(sizeof cc / sizeof cc[0] == ChunkBackwardScratch::kSquares, "C x C blocks");
  static_assert(sizeof c1 / sizeof c1[0] == ChunkBackwardScratch::kRows1, "C blocks");
  for (float** x : ck) take(x, C * K);
  for (float** x : cv) take(x, C * V);
  for (float** x : cc) take(x, C * C);
  for (float** x : c1) take(x, C);
  take(&b.CS, channel_scores_floats(K, C));
  return b;
}

// Row i of X (L rows, leading dim C): entries j > i (or j >= i, strict)
// zero, entries j <= i times exp(G_i - G_j) when gated.
template <class Vec>
inline void causal_decay(int64_t L, int64_t C, const float* G, bool gated, bool strict, float* X) {
  for (int64_t i = 0; i < L; ++i) {
    const int64_t keep = strict ? i : i + 1;
    if (gated) chunk::decay_row<Vec>(keep, C, G[i], G, X + i * C);
    rows::fill<Vec>(L - keep, 0.0f, X + i * C + keep);
  }
}

// A scalar gate's in-chunk terms of a score matrix X (entries j < i of
// rows i < L, leading dim C) whose entries scale by exp(G_i - G_j), against
// their gradient dX: dG_i += X_ij dX_ij, dG_j -= X_ij dX_ij.
// (dG_i in a register through its row: kept in memory, as the compiler
// must when dG_j might be it, each add waited on the last one's store.)
template <class Vec>
inline void add_score_terms(int64_t L, int64_t C, const float* X, const float* dX, float* dG) {
  for (int64_t i = 1; i < L; ++i) {
    float gi = dG[i];
    for (int64_t j = 0; j < i; ++j) {
      const float x = X[i * C + j] * dX[i * C + j];
      gi += x;
      dG[j] -= x;
    }
    dG[i] = gi;
  }
}

// The chunk's factors, as the forward's prepare makes them but kept apart:
// k^, k^ transposed, G, the decayed keys Kd = exp(G_last - G) k^; with
// queries q^, the decayed queries Qt = exp(G) q^ and the scores A = (q^ k^T)
// o Gm; the delta rules' beta, M = strict_lower(k^ k^T o Gm), T and -W.
// far: the rows asked for into L2, C ahead in the first pass, C back in the
// second, which takes the chunks last first (chunk::row_ahead).
template <class Vec>
inline void factors(const ScanTask& f, int64_t c0, int64_t L, bool with_queries, const Blocks& w,
                    int64_t far) {
  const int64_t K = f.K, C = f.chunk;
  const bool delta = f.beta.p != nullptr, gated = f.g.p != nullptr && !f.g_channel;
  float sum = 0.0f;
  // q^ and k^ rows, and a scalar gate's running sum G (zeros otherwise).
  for (int64_t i = 0; i < L; ++i) {
    if (with_queries)
      convert::load_row<Vec>(K, chunk::row_ahead<Vec>(f.q, c0 + i, f.T, K, far), f.q.dt,
                             w.Qh + i * K, f.qk_l2norm);
    convert::load_row<Vec>(K, chunk::row_ahead<Vec>(f.k, c0 + i, f.T, K, far), f.k.dt, w.Kh + i * K,
                           f.qk_l2norm);
    if (gated) sum += gates::scalar_gate<Vec>(f, c0 + i);
    w.G[i] = sum;
  }
  for (int64_t i = L; i < C; ++i) w.G[i] = sum;  // decay_row reads whole vectors
  if (f.g_channel) {  // the forward's per-channel factors (chunk_ops.hpp)
    chunk::load_channel_gates<Vec>(f, c0, L, w.E, w.TP, far);
    chunk::channel_prefix_decays<Vec>(L, K, w.E, w.Pc);
    rows::scaled_copy<Vec>(L * K, 1.0f, w.Kh, w.Kd);
    chunk::channel_decay_keys<Vec>(L, K, w.E, w.Kd, w.TP);
    // Both score matrices in one walk (KDA's strict keys' ones in M).
    // Without queries KDA's keys' scores alone, into M, whose diagonal then
    // goes (the walk's two sums had been the same sum twice).
    if (with_queries) {
      chunk::channel_scores<Vec>(L, K, C, w.Qh, w.Kh, w.E, w.A, delta ? w.M : nullptr, w.CS);
      rows::scaled_copy<Vec>(L * K, 1.0f, w.Qh, w.Qt);
      chunk::decay_rows<Vec>(L, K, w.Pc, w.Qt);
    } else if (delta) {
      chunk::channel_scores<Vec>(L, K, C, w.Kh, w.Kh, w.E, w.M, nullptr, w.CS);
      for (int64_t i = 0; i < L; ++i) w.M[i * C + i] = 0.0f;
    }
  } else {
    if (with_queries || delta) {  // the scores' keys
      chunk::transpose<Vec>(L, K, w.Kh, K, w.KhT, C);
      if (L < C)  // causal_scores reads a short chunk's keys in whole vectors
        for (int64_t r = 0; r < K; ++r) rows::fill<Vec>(C - L, 0.0f, w.KhT + r * C + L);
    }
    if (w.Kd != w.Kh)
      for (int64_t i = 0; i < L; ++i)
        rows::scaled_copy<Vec>(K, gated ? std::exp(w.G[L - 1] - w.G[i]) : 1.0f, w.Kh + i * K,
                               w.Kd + i * K);
    if (with_queries) {
      chunk::causal_scores<Vec>(L, K, C, w.Qh, w.KhT, w.G, gated, /*strict=*/false, w.A);
      if (w.Qt != w.Qh)
        for (int64_t i = 0; i < L; ++i)
          rows::scaled_copy<Vec>(K, gated ? std::exp(w.G[i]) : 1.0f, w.Qh + i * K, w.Qt + i * K);
    }
    if (delta) chunk::causal_scores<Vec>(L, K, C, w.Kh, w.KhT, w.G, gated, /*strict=*/true, w.M);
  }
  if (!delta) return;
  // The WY factors, as the forward's delta_rule_prepare makes them: T from
  // beta M, -W = T (-beta exp(G) k^) (exp(G) per channel for KDA).
  for (int64_t i = 0; i < L; ++i) w.beta[i] = gates::beta_at<Vec>(f, c0 + i);
  for (int64_t i = 0; i < L; ++i) rows::scaled_copy<Vec>(i, w.beta[i], w.M + i * C, w.Y + i * C);
  unit_lower_inverse<Vec>(L, C, w.Y, w.T);
  for (int64_t i = 0; i < L; ++i)
    rows::scaled_copy<Vec>(K, -w.beta[i] * (gated ? std::exp(w.G[i]) : 1.0f), w.Kh + i * K,
                           w.P + i * K);
  if (f.g_channel) chunk::decay_rows<Vec>(L, K, w.Pc, w.P);
  gemm::gemm_set<Vec>(gemm::kCausalK, L, K, L, w.T, C, 1, w.P, K, w.Wn, K);
}

// Rows of S (K x V) decay by the chunk's last cumulative gate: exp(G_last)
// for a scalar gate, exp(G_last,k) for row k with a gate per channel.
template <class Vec>
inline void decay_state(const ScanTask& f, int64_t L, const Blocks& w, float* S) {
  const int64_t K = f.K, V = f.V;
  if (f.g_channel)
    for (int64_t k = 0; k < K; ++k) rows::scal<Vec>(V, w.Pc[(L - 1) * K + k], S + k * V);
  else if (f.g.p)
    rows::scal<Vec>(K * V, std::exp(w.G[L - 1]), S);
}

// The in-chunk part of dq and dk under gates per channel: dq_i +=
// sum_{j <= i} dA_ij (k_j o D_ij), dk_j += sum_{i >= j} dA_ij (q_i o D_ij),
// D_ij = E_(j+1) ... E_i, in the forward's blocks (chunk_ops.hpp,
// channel_scores): inside a block's diagonal part D walked down from i,
// left of it D_ij = P_i R_j with the same floored factors, so that
//   dq_i += P_i o sum_j dA_ij (k_j o R_j),  dk_j += R_j o sum_i dA_ij (q_i o P_i)
// are two gemms. KDA's keys' scores take it with Q = K (the row's reads
// into dq, the column's writes into dk). tmp: channel_scores_floats(K, C).
template <class Vec>
inline void channel_scores_backward_diagonal(int64_t i0, int64_t i1, int64_t K, int64_t C,
                                             const float* Q, const float* Kc, const float* E,
                                             const float* dA, float* dq, float* dk, float* d) {
  using VT = typename Vec::type;
  constexpr int N = Vec::N;
  const int64_t body = K / N * N;
  for (int64_t i = i0; i < i1; ++i) {
    rows::fill<Vec>(K, 1.0f, d);
    const float* qi = Q + i * K;
    float* dqi = dq + i * K;
    for (int64_t j = i; j >= i0; --j) {
      const float* ej = E + (j + 1) * K;
      const float a = dA[i * C + j];
      const float* kj = Kc + j * K;
      float* dkj = dk + j * K;
      const VT va = Vec::set1(a);
      for (int64_t x = 0; x < body; x += N) {
        VT dx = Vec::load(d + x);
        if (j < i) {
          dx = Vec::flush_below(Vec::mul(dx, Vec::load(ej + x)), chunk::kDecayFloor);
          Vec::store(d + x, dx);
        }
        const VT ad = Vec::mul(va, dx);
        Vec::store(dqi + x, Vec::fma(ad, Vec::load(kj + x), Vec::load(dqi + x)));
        Vec::store(dkj + x, Vec::fma(ad, Vec::load(qi + x), Vec::load(dkj + x)));
      }
      for (int64_t x = body; x < K; ++x) {
        if (j < i) {
          const float p = d[x] * ej[x];
          d[x] = p < chunk::kDecayFloor ? 0.0f : p;
        }
        const float ad = a * d[x];
        dqi[x] = Vec::fma1(ad, kj[x], dqi[x]);
        dkj[x] = Vec::fma1(ad, qi[x], dkj[x]);
      }
    }
  }
}

// channel_scores_backward_diagonal over K in slices of kNV vectors (one
// where K is exactly that), with D, row i's queries and its dq sums in
// registers through the walk (dq_i stored once per slice): the same
// operations in the same order, so the same bits. Beside the whole-row
// walk (AVX-512, K = 64 or 128), slices of 4 vectors serve AVX2: backward
// B/A (K = 128) GLA 0.93-0.99, KDA 0.97-1.02, the walk 4.0 % of KDA's
// samples instead of 6.0 %.
template <class Vec, int kNV>
inline void channel_scores_backward_diagonal_held(int64_t i0, int64_t i1, int64_t K, int64_t C,
                                                  const float* Q, const float* Kc, const float* E,
                                                  const float* dA, float* dq, float* dk) {
  using VT = typename Vec::type;
  constexpr int N = Vec::N;
  for (int64_t i = i0; i < i1; ++i)
    for (int64_t s = 0; s < K; s += kNV * N) {
      VT d[kNV], qi[kNV], dqi[kNV];
      for (int x = 0; x < kNV; ++x) {
        d[x] = Vec::set1(1.0f);
        qi[x] = Vec::load(Q + i * K + s + x * N);
        dqi[x] = Vec::load(dq + i * K + s + x * N);
      }
      for (int64_t j = i; j >= i0; --j) {
        const float* ej = E + (j + 1) * K + s;
        const float* kj = Kc + j * K + s;
        float* dkj = dk + j * K + s;
        const VT va = Vec::set1(dA[i * C + j]);
#pragma GCC unroll 8
        for (int x = 0; x < kNV; ++x) {
          if (j < i)
            d[x] = Vec::flush_below(Vec::mul(d[x], Vec::load(ej + x * N)), chunk::kDecayFloor);
          const VT ad = Vec::mul(va, d[x]);
          dqi[x] = Vec::fma(ad, Vec::load(kj + x * N), dqi[x]);
          Vec::store(dkj + x * N, Vec::fma(ad, qi[x], Vec::load(dkj + x * N)));
        }
      }
      for (int x = 0; x < kNV; ++x) Vec::store(dq + i * K + s + x * N, dqi[x]);
    }
}

template <class Vec>
inline void channel_scores_backward_diagonal_any(int64_t i0, int64_t i1, int64_t K, int64_t C,
                                                 const float* Q, const float* Kc, const float* E,
                                                 const float* dA, float* dq, float* dk, float* d) {
  auto held = [&](auto nv) {
    channel_scores_backward_diagonal_held<Vec, decltype(nv)::value>(i0, i1, K, C, Q, Kc, E, dA, dq,
                                                                    dk);
  };
  if (chunk::walk_held<Vec>(K, held)) return;
  if (K % (4 * Vec::N) == 0)  // no whole row in registers (AVX2): slices of 4 vectors
    held(std::integral_constant<int, 4>());
  else
    channel_scores_backward_diagonal<Vec>(i0, i1, K, C, Q, Kc, E, dA, dq, dk, d);
}

template <class Vec>
inline void channel_scores_backward_left(int64_t i0, int64_t i1, int64_t K, int64_t C,
                                         const float* Q, const float* Kc, const float* E,
                                         const float* dA, float* dq, float* dk, float* tmp) {
  using gemm::kFull;
  const int64_t m = i1 - i0;
  float *P = tmp + K, *R = P + kScoreRows * K, *Qp = R + C * K, *Y = Qp + kScoreRows * K,
        *Kr = Y + kScoreRows * K, *Z = Kr + C * K;
  chunk::left_factors<Vec>(i0, i1, K, E, P, R);
  rows::mul<Vec>(i0 * K, Kc, R, Kr);
  rows::mul<Vec>(m * K, Q + i0 * K, P, Qp);
  gemm::gemm_set<Vec>(kFull, m, K, i0, dA + i0 * C, C, 1, Kr, K, Y, K);  // Y = dA Kr
  gemm::gemm_set<Vec>(kFull, i0, K, m, dA + i0 * C, 1, C, Qp, K, Z, K);  // Z = dA^T Qp
  rows::mul_add<Vec>(m * K, P, Y, dq + i0 * K);
  rows::mul_add<Vec>(i0 * K, R, Z, dk);
}

template <class Vec>
inline void channel_scores_backward(int64_t L, int64_t K, int64_t C, const float* Q,
                                    const float* Kc, const float* E, const float* dA, float* dq,
                                    float* dk, float* tmp) {
  for (int64_t i0 = 0; i0 < L; i0 += kScoreRows) {
    const int64_t i1 = L - i0 < kScoreRows ? L : i0 + kScoreRows;
    channel_scores_backward_diagonal_any<Vec>(i0, i1, K, C, Q, Kc, E, dA, dq, dk, tmp);
    if (i0 > 0) channel_scores_backward_left<Vec>(i0, i1, K, C, Q, Kc, E, dA, dq, dk, tmp);
  }
}

// A gate per channel: dg's running sum over token i, carry += q dq - k dk
// (+ 2 k dkr, KDA's reads of k, when dkr is given). (As a scalar loop, which
// GCC kept scalar for the arrays' possible aliasing, 2 % of KDA's backward.)
template <class Vec>
inline void carry_channels(int64_t K, const float* q, const float* dq, const float* k,
                           const float* dk, const float* dkr, float* carry) {
  using VT = typename Vec::type;
  int64_t x = 0;
  for (; x + Vec::N <= K; x += Vec::N) {
    const VT kx = Vec::load(k + x);
    VT t = Vec::sub(Vec::mul(Vec::load(q + x), Vec::load(dq + x)), Vec::mul(kx, Vec::load(dk + x)));
    if (dkr) t = Vec::add(t, Vec::mul(Vec::add(kx, kx), Vec::load(dkr + x)));
    Vec::store(carry + x, Vec::add(Vec::load(carry + x), t));
  }
  for (; x < K; ++x) {
    float t = q[x] * dq[x] - k[x] * dk[x];
    if (dkr) t += 2.0f * k[x] * dkr[x];
    carry[x] += t;
  }
}

// KDA's dk from W's reads of the state: dkr = 0 - (beta e) o TP (e the
// row's decays from the chunk's start).
template <class Vec>
inline void weighted_reads(int64_t K, float beta, const float* e, const float* tp, float* dkr) {
  using VT = typename Vec::type;
  const VT vb = Vec::set1(beta);
  int64_t x = 0;
  for (; x + Vec::N <= K; x += Vec::N)
    Vec::store(dkr + x,
               Vec::sub(Vec::zero(), Vec::mul(Vec::mul(vb, Vec::load(e + x)), Vec::load(tp + x))));
  for (; x < K; ++x) dkr[x] = 0.0f - beta * e[x] * tp[x];
}

// normalize: z at every chunk boundary (zs + c K before chunk c), from the
// initial z (zeros when absent) and the keys; k^ rows go through Kh.
template <class Vec>
inline void norm_boundaries(const ScanTask& f, int64_t chunks, const Blocks& w) {
  const int64_t K = f.K, C = f.chunk;
  if (f.z)
    rows::scaled_copy<Vec>(K, 1.0f, f.z, w.zs);
  else
    rows::fill<Vec>(K, 0.0f, w.zs);
  for (int64_t c = 0; c < chunks; ++c) {
    const int64_t c0 = c * C, L = f.T - c0 < C ? f.T - c0 : C;
    float* z = w.zs + (c + 1) * K;
    rows::scaled_copy<Vec>(K, 1.0f, z - K, z);
    for (int64_t i = 0; i < L; ++i) {
      convert::load_row<Vec>(K, f.k.at(c0 + i), f.k.dt, w.Kh, f.qk_l2norm);
      rows::axpy<Vec>(K, 1.0f, w.Kh, z);
    }
  }
}

// The chunk's raw values into Vr, and U' from the state S before it:
// T (beta V) + (-W) S for the delta rules (X = beta V, U' in up, unless the
// first pass left it there: `kept`), V itself otherwise (Vr). Returns U'.
// far as factors'.
template <class Vec>
inline const float* chunk_values(const ScanTask& f, int64_t c0, int64_t L, const float* S,
                                 const Blocks& w, float* up, bool kept, int64_t far) {
  const int64_t K = f.K, V = f.V, C = f.chunk;
  chunk::load_values<Vec>(f, c0, L, nullptr, w.Vr, far);
  if (f.beta.p == nullptr) return w.Vr;
  for (int64_t i = 0; i < L; ++i) rows::scaled_copy<Vec>(V, w.beta[i], w.Vr + i * V, w.X + i * V);
  if (kept) return up;
  gemm::gemm_set<Vec>(gemm::kCausalK, L, V, L, w.T, C, 1, w.X, V, up, V);
  chunk::times_state<Vec>(/*accumulate=*/true, L, K, V, w.Wn, S, V, up, V);
  return up;
}

// One pair's two passes, a chunk at a time: scan_backward_chunked takes the
// chunks of the pairs it runs in lockstep in turn.
template <class Vec>
struct PairWalk {
  const BackwardTask* task;
  Blocks w;
  ChunkBackwardScratch layout;
  int64_t T, K, V, C, KV;
  bool delta, channel, gated, saved, keep_values;

  // Rows of a state as the second pass reads it, for asking ahead.
  struct StateRows {
    const float* p;
    int64_t row, ld, rows;
  };

  void init(const BackwardTask& b, float* ws, int64_t pairs, int64_t index) {
    const ScanTask& t = b.f;
    task = &b;
    T = t.T;
    K = t.K;
    V = t.V;
    C = t.chunk;
    KV = K * V;
    delta = t.beta.p != nullptr;
    channel = t.g_channel;
    gated = t.g.p != nullptr && !channel;  // a scalar gate
    saved = b.chunk_states != nullptr;
    // The first pass keeps the delta rules' U' of every chunk for the
    // second (docs/decisions.md, "Backward: U' kept").
    keep_values = delta && !saved;
    layout = chunk_backward_scratch(T, K, V, C, saved, keep_values);
    w = blocks<Vec>(ws, T, K, V, C, saved, keep_values, pairs, index);
    // Without a gate the decayed keys and queries are k^ and q^ themselves
    // (the delta rules keep Qt, which dS's update reads beside -W).
    if (!gated && !channel) {
      w.Kd = w.Kh;
      if (!delta) w.Qt = w.Qh;
    }
  }

  float* values_of(int64_t c) const { return keep_values ? w.Us + c * C * V : w.Up; }

  // 1. States at the chunk boundaries: states + c K V before chunk c, the
  // final one last (keys and values only: no output is formed). The state
  // runs in dS's block, in cache, as the forward's does; each boundary's
  // copy is streamed out. With the forward's states given, only the
  // initial one, into states (and the next block holds a given state
  // transposed or repacked).
  float* run() const { return saved ? w.states : w.dS; }

  void first_pass_start() {
    const ScanTask& t = task->f;
    float* const run = this->run();
    for (int64_t r = 0; r < K; ++r) {
      if (t.S)
        rows::scaled_copy<Vec>(V, 1.0f, t.S + r * t.S_ld, run + r * V);
      else
        rows::fill<Vec>(V, 0.0f, run + r * V);
    }
    // The boundary states are written once and read once, much later:
    // streamed past the caches where they are whole lines.
    if (!saved) chunk::stream_rows<Vec>(1, KV, run, KV, w.states, KV);
  }

  void first_pass_chunk(int64_t c) {
    using gemm::kFull;
    const ScanTask& t = task->f;
    float* const run = this->run();
    const int64_t c0 = c * C, L = T - c0 < C ? T - c0 : C;
    factors<Vec>(t, c0, L, /*with_queries=*/false, w, C);
    const float* U = chunk_values<Vec>(t, c0, L, run, w, values_of(c), false, C);
    decay_state<Vec>(t, L, w, run);
    // The updated state's rows go out as the product finishes them (gemm's
    // copy).
    float* boundary = w.states + (c + 1) * KV;
    if (rows::whole_lines<Vec>(V, V, boundary)) {
      gemm::gemm_acc_copy<Vec>(K, V, L, w.Kd, 1, K, U, V, run, V, boundary);
    } else {
      gemm::gemm_acc<Vec>(kFull, K, V, L, w.Kd, 1, K, U, V, run, V);
      rows::scaled_copy<Vec>(KV, 1.0f, run, boundary);
    }
  }

  // The state before chunk c (after chunk c - 1): stored by the first pass,
  // or the forward's (V-first ones transposed into states).
  const float* state_before(int64_t c) {
    const BackwardTask& b = *task;
    if (!saved) return w.states + c * KV;
    if (c == 0) return w.states;  // the initial state (read only below)
    const float* S = b.chunk_states + (c - 1) * b.cs_step;
    if (!b.cs_v_first && b.cs_ld == V) return S;
    float* own = w.states + KV;
    if (b.cs_v_first)
      chunk::transpose<Vec>(V, K, S, b.cs_ld, own, V);
    else
      for (int64_t r = 0; r < K; ++r) rows::scaled_copy<Vec>(V, 1.0f, S + r * b.cs_ld, own + r * V);
    return own;
  }

  StateRows state_rows(int64_t c) const {
    const BackwardTask& b = *task;
    if (!saved) return {w.states + c * KV, V, V, K};
    if (c == 0) return {nullptr, 0, 0, 0};  // the initial state, copied in
    const int64_t row = b.cs_v_first ? K : V;
    return {b.chunk_states + (c - 1) * b.cs_step, row, b.cs_ld, KV / row};
  }

  void second_pass_start() {
    const BackwardTask& b = *task;
    const ScanTask& t = b.f;
    if (t.normalize) {
      norm_boundaries<Vec>(t, layout.chunks, w);
      rows::fill<Vec>(K, 0.0f, w.zs + (layout.chunks + 1) * K);  // dz after the last chunk: 0
    }

    // 2. The chunks last first, dS the gradient of the state after the chunk.
    for (int64_t r = 0; r < K; ++r) {
      if (b.dST)
        rows::scaled_copy<Vec>(V, 1.0f, b.dST + r * b.dST_ld, w.dS + r * V);
      else
        rows::fill<Vec>(V, 0.0f, w.dS + r * V);
    }
    // A gate per channel: dg's running sum per channel, within each chunk
    // from its end, starting with the term of the state after it (below).
    if (channel) {
      const float* ST = state_before(layout.chunks);
      for (int64_t k = 0; k < K; ++k) w.carry[k] = rows::dot<Vec>(V, w.dS + k * V, ST + k * V);
    }
  }

  // Chunk c of the second pass (the chunks last first, dS the gradient of
  // the state after the chunk); next: the state the next step reads.
  void second_pass_chunk(int64_t c, StateRows next) {
    using gemm::kCausalK;
    using gemm::kFull;
    using gemm::kLowerC;
    using gemm::kUpperK;
    const BackwardTask& b = *task;
    const ScanTask& t = b.f;
    const int64_t c0 = c * C, L = T - c0 < C ? T - c0 : C;
    const float* S = state_before(c);
    const float* G = w.G;
    // The state the next step reads (this pair's before chunk c - 1, or the
    // next pair's before chunk c), asked for into L2 an eighth at a time
    // between this chunk's products: written past the caches in the first
    // pass, or the forward's, it comes from memory, and the next step's
    // first product otherwise waits on it (docs/decisions.md, "Backward: U'
    // kept").
    int64_t asked = 0;  // rows
    auto ask_next = [&](int64_t eighths) {
      if (!next.p) return;
      for (; asked < eighths * next.rows / 8; ++asked)
        for (int64_t x = 0; x < next.row; x += 64 / sizeof(float))
          __builtin_prefetch(next.p + asked * next.ld + x, 0, 2);
    };
    factors<Vec>(t, c0, L, /*with_queries=*/true, w, -C);
    const float* Up = chunk_values<Vec>(t, c0, L, S, w, values_of(c), keep_values, -C);
    ask_next(1);
    // A scalar gate's dG_i (the gradient of the chunk's cumulative G_i),
    // term by term as each exp(G) meets its product below: the state's
    // exp(G_last) S here, while dS is the gradient of the state after the
    // chunk.
    if (gated) {
      rows::fill<Vec>(L, 0.0f, w.dG);
      w.dG[L - 1] = std::exp(G[L - 1]) * rows::dot_long<Vec>(KV, w.dS, S);
    }
    if (t.normalize) {
      // o_i = factor_i y_i, y = Q S + A U' (the forward's unscaled output),
      // factor_i = scale / den_i, den_i = scale q_i . z_i + eps: y's
      // gradient is factor_i do_i, den's -do_i . o_i / den_i.
      const float* z0 = w.zs + c * K;
      gemm::gemm_set<Vec>(kFull, L, V, K, w.Qh, K, 1, S, V, w.X, V);
      gemm::gemm_acc<Vec>(kCausalK, L, V, L, w.A, C, 1, Up, V, w.X, V);
      for (int64_t i = 0; i < L; ++i) {
        float den = rows::dot<Vec>(K, w.Qh + i * K, z0);
        for (int64_t j = 0; j <= i; ++j) den += w.A[i * C + j];
        const float full = t.scale * den + t.eps;
        w.factor[i] = t.scale / full;
        convert::widen_scaled<Vec>(V, w.factor[i], chunk::row_ahead<Vec>(b.dO, c0 + i, T, V, -C),
                                   b.dO.dt, w.dOs + i * V);
        // -do_i . o_i / full = -(dOs_i . y_i) / full (dOs_i = factor_i do_i).
        w.gden[i] = -rows::dot<Vec>(V, w.dOs + i * V, w.X + i * V) / full;
      }
    } else {
      for (int64_t i = 0; i < L; ++i)
        convert::widen_scaled<Vec>(V, t.scale, chunk::row_ahead<Vec>(b.dO, c0 + i, T, V, -C),
                                   b.dO.dt, w.dOs + i * V);
    }
    // The products against S and dS run as (S dOs^T)^T and the like, so
    // that only blocks of C rows are transposed, not S and dS (K x V each,
    // per chunk).
    chunk::transpose<Vec>(L, V, Up, V, w.UT, C);
    chunk::transpose<Vec>(L, V, w.dOs, V, w.dOT, C);
    auto times_state_t = [&](const float* S_or_dS, const float* RT, float* out) {
      gemm::gemm_set<Vec>(kFull, K, L, V, S_or_dS, V, 1, RT, C, w.KC, C);  // K x L
      chunk::transpose<Vec>(K, L, w.KC, C, out, K);
    };

    // dU' = A^T dOs + Kd dS.
    gemm::gemm_set<Vec>(kUpperK, L, V, L, w.A, 1, C, w.dOs, V, w.dUp, V);
    gemm::gemm_acc<Vec>(kFull, L, V, K, w.Kd, K, 1, w.dS, V, w.dUp, V);
    // Each gradient's rows go out once they are final, so that their
    // stores (streamed past the caches) drain under the products that
    // follow: the linear family's dv is dU'.
    if (!delta && b.dv.p)
      chunk::store_rows<Vec>(b.dv, c0, L, T, V, w.dUp, nullptr, 1.0f, t.stream_o, -C);
    ask_next(2);
    // dA o Gm, dA = dOs U'^T (lower, with the diagonal; GLA's decays lie
    // inside the sums over channels, below).
    gemm::gemm_set<Vec>(kLowerC, L, L, V, w.dOs, V, 1, w.UT, C, w.dA, C);
    if (gated) add_score_terms<Vec>(L, C, w.A, w.dA, w.dG);
    causal_decay<Vec>(L, C, G, gated, /*strict=*/false, w.dA);
    // dq^ = exp(G) (dOs S^T) + (dA o Gm) k^.
    times_state_t(S, w.dOT, w.dq);
    ask_next(3);
    if (gated)  // dG_i: q^_i meets exp(G_i) S
      for (int64_t i = 0; i < L; ++i) {
        rows::scal<Vec>(K, std::exp(G[i]), w.dq + i * K);
        w.dG[i] += rows::dot<Vec>(K, w.Qh + i * K, w.dq + i * K);
      }
    if (channel)
      chunk::decay_rows<Vec>(L, K, w.Pc, w.dq);
    else
      gemm::gemm_acc<Vec>(kCausalK, L, K, L, w.dA, C, 1, w.Kh, K, w.dq, K);
    // dk^ = exp(G_last - G) (U' dS^T) + (dA o Gm)^T q^.
    times_state_t(w.dS, w.UT, w.dk);
    ask_next(4);
    if (gated)  // dG: k^_i writes into the state after exp(G_last - G_i)
      for (int64_t i = 0; i < L; ++i) {
        rows::scal<Vec>(K, std::exp(G[L - 1] - G[i]), w.dk + i * K);
        if (i == L - 1) continue;
        const float y = rows::dot<Vec>(K, w.Kh + i * K, w.dk + i * K);
        w.dG[i] -= y;
        w.dG[L - 1] += y;
      }
    if (channel) {
      chunk::channel_decay_keys<Vec>(L, K, w.E, w.dk, w.TP);
      channel_scores_backward<Vec>(L, K, C, w.Qh, w.Kh, w.E, w.dA, w.dq, w.dk, w.CS);
    } else {
      gemm::gemm_acc<Vec>(kUpperK, L, K, L, w.dA, 1, C, w.Qh, K, w.dk, K);
    }

    if (!t.normalize) backward::add_grad_rows<Vec>(b, b.dq, b.dq_acc, c0, L, w.dq, -C);  // final
    if (delta) {
      // P = dU' S^T (dW = -P); TP = T^T P; X = T^T dU' (after X^T is taken).
      chunk::transpose<Vec>(L, V, w.dUp, V, w.dUT, C);
      times_state_t(S, w.dUT, w.P);
      ask_next(5);
      gemm::gemm_set<Vec>(kUpperK, L, K, L, w.T, 1, C, w.P, K, w.TP, K);
      chunk::transpose<Vec>(L, V, w.X, V, w.XT, C);
      gemm::gemm_set<Vec>(kUpperK, L, V, L, w.T, 1, C, w.dUp, V, w.X, V);
      // Kb = beta exp(G) k^ (transposed, K x C), the rows W was made of
      // (exp(G) per channel for KDA: its row of Pc), gathered in KC (free
      // between the products) and transposed once.
      for (int64_t i = 0; i < L; ++i) {
        const float* e = channel ? w.Pc + i * K : nullptr;  // else exp(G_i) (or 1) throughout
        const float e1 = gated ? std::exp(G[i]) : 1.0f;
        float* kb = w.KC + i * K;  // exp(G_i) o k^_i
        if (channel)
          rows::mul<Vec>(K, e, w.Kh + i * K, kb);
        else
          rows::scaled_copy<Vec>(K, e1, w.Kh + i * K, kb);
        // dv = beta T^T dU'; dbeta from U and from W; dk^ from W (a read of
        // the state: dkr for KDA's gate, below). (from_w summed in one
        // float's order had been a chain of K dependent adds per row: 2 %
        // of the delta rule's backward.)
        const float from_w = rows::dot<Vec>(K, kb, w.TP + i * K);
        rows::scal<Vec>(K, w.beta[i], kb);
        w.dbeta[i] = rows::dot<Vec>(V, w.Vr + i * V, w.X + i * V) - from_w;
        if (gated) w.dG[i] -= w.beta[i] * from_w;  // W's rows hold exp(G_i)
        rows::scal<Vec>(V, w.beta[i], w.X + i * V);
        const float* tp = w.TP + i * K;
        if (channel) {
          weighted_reads<Vec>(K, w.beta[i], e, tp, w.dkr + i * K);
        } else {
          float* dk = w.dk + i * K;
          for (int64_t x = 0; x < K; ++x) dk[x] -= w.beta[i] * e1 * tp[x];
        }
      }
      chunk::transpose<Vec>(L, K, w.KC, K, w.KbT, C);
      if (b.dv.p) chunk::store_rows<Vec>(b.dv, c0, L, T, V, w.X, nullptr, 1.0f, t.stream_o, -C);
      ask_next(6);
      // dT = dU' (beta V)^T - P (beta exp(G) K)^T, strictly lower (T's
      // diagonal is fixed at 1).
      gemm::gemm_set<Vec>(kLowerC, L, L, V, w.dUp, V, 1, w.XT, C, w.dT, C);
      rows::scal<Vec>(L * K, -1.0f, w.P);
      gemm::gemm_acc<Vec>(kLowerC, L, L, K, w.P, K, 1, w.KbT, C, w.dT, C);
      causal_decay<Vec>(L, C, G, false, /*strict=*/true, w.dT);
      // dA_k = -T^T (dT T^T), strictly lower.
      chunk::transpose<Vec>(L, L, w.T, C, w.TT, C);
      gemm::gemm_set<Vec>(kFull, L, L, L, w.dT, C, 1, w.TT, C, w.Y, C);
      gemm::gemm_set<Vec>(kUpperK, L, L, L, w.T, 1, C, w.Y, C, w.dA, C);
      // A_k = strict_lower(beta M): dbeta_i += sum_j dA_k M; dk^ += (beta
      // dA_k o Gm) k^ + its transpose times k^.
      for (int64_t i = 0; i < L; ++i) {
        float* row = w.dA + i * C;
        rows::scal<Vec>(i, -1.0f, row);
        w.dbeta[i] += rows::dot<Vec>(i, row, w.M + i * C);
        rows::scal<Vec>(i, w.beta[i], row);
      }
      // dG: T's A_k = strict_lower(beta M), M's entries scaled by exp(G_i - G_j).
      if (gated) add_score_terms<Vec>(L, C, w.M, w.dA, w.dG);
      causal_decay<Vec>(L, C, G, gated, /*strict=*/true, w.dA);
      if (channel) {  // the row's k reads, the column's writes
        channel_scores_backward<Vec>(L, K, C, w.Kh, w.Kh, w.E, w.dA, w.dkr, w.dk, w.CS);
        rows::axpy<Vec>(L * K, 1.0f, w.dkr, w.dk);
      } else {
        gemm::gemm_acc<Vec>(kCausalK, L, K, L, w.dA, C, 1, w.Kh, K, w.dk, K);
        gemm::gemm_acc<Vec>(kUpperK, L, K, L, w.dA, 1, C, w.Kh, K, w.dk, K);
      }
    }

    ask_next(7);
    // dS <- exp(G_last) dS + (exp(G) Q)^T dOs + (-W)^T dU'.
    decay_state<Vec>(t, L, w, w.dS);
    if (delta && L == C) {  // [Qt; -W]^T [dOs; dU'] in one pass over dS (blocks())
      gemm::gemm_acc<Vec>(kFull, K, V, 2 * C, w.Qt, 1, K, w.dOs, V, w.dS, V);
    } else {
      gemm::gemm_acc<Vec>(kFull, K, V, L, w.Qt, 1, K, w.dOs, V, w.dS, V);
      if (delta) gemm::gemm_acc<Vec>(kFull, K, V, L, w.Wn, 1, K, w.dUp, V, w.dS, V);
    }

    ask_next(8);
    // 3. The token rows: dg (a running sum from the chunk's end), dbeta,
    // dv, and dq, dk (or their sums over the value heads).
    float carry = 0.0f;
    for (int64_t i = L - 1; i >= 0; --i) {
      const int64_t s = c0 + i;
      if (gated) {
        carry += w.dG[i];
        if (b.dg.p) convert::store_element<Vec>(b.dg.p, s * b.dg.ts, b.dg.dt, carry);
      }
      if (channel) {
        carry_channels<Vec>(K, w.Qh + i * K, w.dq + i * K, w.Kh + i * K, w.dk + i * K,
                            delta ? w.dkr + i * K : nullptr, w.carry);
        rows::scaled_copy<Vec>(K, 1.0f, w.carry, w.dZ + i * K);  // dg's row, stored below
      }
      if (b.dbeta.p && delta)
        convert::store_element<Vec>(b.dbeta.p, s * b.dbeta.ts, b.dbeta.dt,
                                    gates::beta_gradient<Vec>(t, w.beta[i], w.dbeta[i]));
    }
    if (channel && b.dg.p)  // dZ is free: no normalize with a gate
      chunk::store_rows<Vec>(b.dg, c0, L, T, K, w.dZ, nullptr, 1.0f, t.stream_o, -C);
    // The chunk before starts its channels' sums from <dS_k, S_k> (S the
    // state before this chunk, dS now its gradient).
    if (channel)
      for (int64_t k = 0; k < K; ++k) w.carry[k] = rows::dot<Vec>(V, w.dS + k * V, S + k * V);
    if (t.normalize) {
      // den_i's z_i = z_0 + k_0 + ... + k_i: dq_i += scale gden_i z_i; z_i's
      // gradient dZ_i = scale gden_i q_i reaches k_j for j <= i, and the
      // carry (z after the chunk's gradient) every k of the chunk.
      float* zi = w.P;  // K floats
      float* carry = w.zs + (layout.chunks + 1) * K;
      rows::scaled_copy<Vec>(K, 1.0f, w.zs + c * K, zi);
      for (int64_t i = 0; i < L; ++i) {
        rows::axpy<Vec>(K, 1.0f, w.Kh + i * K, zi);
        rows::axpy<Vec>(K, t.scale * w.gden[i], zi, w.dq + i * K);
        rows::scaled_copy<Vec>(K, t.scale * w.gden[i], w.Qh + i * K, w.dZ + i * K);
      }
      for (int64_t i = L - 1; i >= 0; --i) {
        rows::axpy<Vec>(K, 1.0f, w.dZ + i * K, carry);
        rows::axpy<Vec>(K, 1.0f, carry, w.dk + i * K);
      }
    }
    if (t.normalize) backward::add_grad_rows<Vec>(b, b.dq, b.dq_acc, c0, L, w.dq, -C);
    backward::add_grad_rows<Vec>(b, b.dk, b.dk_acc, c0, L, w.dk, -C);
  }

  void finish() {
    const BackwardTask& b = *task;
    if (b.dS0)
      for (int64_t r = 0; r < K; ++r)
        rows::scaled_copy<Vec>(V, 1.0f, w.dS + r * V, b.dS0 + r * b.dS0_ld);
  }
};

}  // namespace chunk_backward

// Pairs of one sequence in lockstep, each pair's chunk c before any pair's
// next chunk: each token's rows of q, k, v, do and the gradients lie in one
// 4 KiB page for several heads ([T, H, K] with H K = 2048 floats holds 8
// heads per page), and a pair alone walks a page table for every row it
// touches.
template <class Vec>
void scan_backward_chunked(const BackwardTask* tasks, int64_t pairs, float* ws) {
  using Walk = chunk_backward::PairWalk<Vec>;
  Walk walks[kMaxLockstep]{};  // pairs >= 1 of them set up below
  for (int64_t g = 0; g < pairs; ++g) walks[g].init(tasks[g], ws, pairs, g);
  const int64_t chunks = walks[0].layout.chunks;
  for (int64_t g = 0; g < pairs; ++g) walks[g].first_pass_start();
  if (!walks[0].saved)
    for (int64_t c = 0; c < chunks; ++c)
      for (int64_t g = 0; g < pairs; ++g) walks[g].first_pass_chunk(c);
  for (int64_t g = 0; g < pairs; ++g) walks[g].second_pass_start();
  for (int64_t c = chunks - 1; c >= 0; --c)
    for (int64_t g = 0; g < pairs; ++g) {
      typename Walk::StateRows next = {nullptr, 0, 0, 0};
      if (g + 1 < pairs)
        next = walks[g + 1].state_rows(c);
      else if (c > 0)
        next = walks[0].state_rows(c - 1);
      walks[g].second_pass_chunk(c, next);
    }
  Vec::stream_fence();  // the gradients' streamed rows (store_rows)
  for (int64_t g = 0; g < pairs; ++g) walks[g].finish();
}

}  // namespace kern
}  // namespace fw
