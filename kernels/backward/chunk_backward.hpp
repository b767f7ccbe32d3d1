// The chunked backward of the scans with a scalar gate or none (linear
// attention without normalize, simple GLA, the delta rule, the gated delta
// rule): docs/design.md, "The backward". Per pair:
//  1. the chunked forward once more (the forward's own prepare and advance,
//     outputs to a sink), keeping the state at every chunk boundary;
//  2. the chunks last first: prepare again (the record: decayed queries and
//     keys, scores A, cumulative log-decays G, for the delta rules T and
//     -W), then the forward's products transposed, with dOs = scale dO,
//     U' the chunk's values (delta rules: T beta V - W S), Gm_ij =
//     exp(G_i - G_j) (j <= i):
//       dU' = A^T dOs + Kd dS
//       dq^ = exp(G) (dOs S^T) + (dA o Gm) k^,   dA = dOs U'^T
//       dk^ = exp(G_last - G) (U' dS^T) + (dA o Gm)^T q^
//       delta rules, with U' = U - W S, U = T beta V, W = T beta exp(G) K,
//       T = (I + A_k)^{-1}, A_k = strict_lower(beta (K K^T o Gm)):
//         dv = beta (T^T dU'), dW = -dU' S^T, dT = dU' (beta V)^T + dW
//         (beta exp(G) K)^T, dA_k = -T^T dT T^T, and their beta and k parts
//       dS <- exp(G_last) dS + (exp(G) Q)^T dOs - W^T dU'
//  3. the gate's gradient without differentiating the decays: scaled by
//     exp(G_t) (G over the whole sequence), q_t reads o_t, v_t writes
//     exp(-G_t) k_t v_t^T, and the final state is exp(G_T) times the
//     rest, so dG_t = q^_t . dq^_t - v_t . dv_t (+ <dS_T, S_T> at the last
//     token), and dg_s = sum over t >= s of dG_t.
// Every product is a gemm call; per chunk the C x C ones are small.
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
#include "kernels/linear_attn/chunk.hpp"

namespace fw {
namespace kern {
namespace chunk_backward {

// The blocks of one pair's scratch (chunk_backward_scratch's layout).
struct Blocks {
  float *fwd, *rec, *states, *sink, *dS, *ST, *dST;
  float *Qh, *Kh, *KhT, *dq, *dk, *P, *TP, *KbT;  // C x K (KhT, KbT: K x C)
  float *dOs, *Vr, *X, *Up, *dUp, *UT, *XT;       // C x V (UT, XT: V x C)
  float *dA, *dT, *M, *Y, *TT;                    // C x C
  float* dbeta;                                   // C
};

template <class Vec>
inline Blocks blocks(float* ws, int64_t T, int64_t K, int64_t V, int64_t C) {
  const ChunkBackwardScratch s = chunk_backward_scratch(T, K, V, C);
  Blocks b;
  float* p = ws;
  auto take = [&](int64_t n) {
    float* x = p;
    p += n;
    return x;
  };
  b.fwd = take(s.forward);
  b.rec = take(chunk_record_floats(K, C));
  b.states = take((s.chunks + 1) * K * V);
  b.sink = take(V);
  b.dS = take(K * V);
  b.ST = take(K * V);
  b.dST = take(K * V);
  float** ck[] = {&b.Qh, &b.Kh, &b.KhT, &b.dq, &b.dk, &b.P, &b.TP, &b.KbT};
  for (float** x : ck) *x = take(C * K);
  float** cv[] = {&b.dOs, &b.Vr, &b.X, &b.Up, &b.dUp, &b.UT, &b.XT};
  for (float** x : cv) *x = take(C * V);
  float** cc[] = {&b.dA, &b.dT, &b.M, &b.Y, &b.TT};
  for (float** x : cc) *x = take(C * C);
  b.dbeta = take(C);
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

}  // namespace chunk_backward

template <class Vec>
void scan_backward_chunked(const BackwardTask& b, float* ws) {
  using gemm::kCausalK;
  using gemm::kFull;
  using gemm::kLowerC;
  const ScanTask& t = b.f;
  const int64_t T = t.T, K = t.K, V = t.V, C = t.chunk, KV = K * V;
  const bool delta = t.beta.p != nullptr, gated = t.g.p != nullptr;
  const ChunkBackwardScratch layout = chunk_backward_scratch(T, K, V, C);
  const chunk_backward::Blocks w = chunk_backward::blocks<Vec>(ws, T, K, V, C);
  const auto prepare = delta ? &delta_rule_prepare<Vec> : &linear_attn_prepare<Vec>;
  const auto advance = delta ? &delta_rule_advance<Vec> : &linear_attn_advance<Vec>;

  // 1. States at the chunk boundaries: states + c K V before chunk c, the
  // final one last. The forward task writes its outputs to a one-row sink.
  ScanTask f = t;
  f.o = OutRows{w.sink, 0, Dtype::f32};
  f.stream_o = false;
  f.ws = w.fwd;
  f.S_ld = V;
  f.S_v_first = false;
  for (int64_t r = 0; r < K; ++r) {
    if (t.S)
      rows::scaled_copy<Vec>(V, 1.0f, t.S + r * t.S_ld, w.states + r * V);
    else
      rows::fill<Vec>(V, 0.0f, w.states + r * V);
  }
  for (int64_t c = 0; c < layout.chunks; ++c) {
    float* S = w.states + (c + 1) * KV;
    rows::scaled_copy<Vec>(KV, 1.0f, S - KV, S);
    f.S = S;
    prepare(f, c * C, w.rec);
    advance(f, c * C, w.rec);
  }

  // 2. The chunks last first, dS the gradient of the state after the chunk.
  for (int64_t r = 0; r < K; ++r) {
    if (b.dST)
      rows::scaled_copy<Vec>(V, 1.0f, b.dST + r * b.dST_ld, w.dS + r * V);
    else
      rows::fill<Vec>(V, 0.0f, w.dS + r * V);
  }
  // dg's running sum from the end, starting with the final state's term.
  float carry = gated ? rows::dot<Vec>(KV, w.dS, w.states + layout.chunks * KV) : 0.0f;
  const chunk::Record<const float> rr = chunk::record<Vec>(static_cast<const float*>(w.rec), K, C);
  for (int64_t c = layout.chunks - 1; c >= 0; --c) {
    const int64_t c0 = c * C, L = T - c0 < C ? T - c0 : C;
    const float* S = w.states + c * KV;
    prepare(f, c0, w.rec);
    const float* G = rr.G;
    // q^, k^ and k^ transposed as the forward loaded them (its G, which the
    // record holds, lands in dT, written later).
    chunk::load<Vec>(f, c0, L, w.Qh, w.Kh, w.KhT, w.dT);
    for (int64_t i = 0; i < L; ++i)
      convert::widen_scaled<Vec>(V, t.scale, b.dO.at(c0 + i), b.dO.dt, w.dOs + i * V);
    chunk::load_values<Vec>(f, c0, L, nullptr, w.Vr);
    // U' (the delta rules: T (beta V) + (-W) S; else V).
    if (delta) {
      for (int64_t i = 0; i < L; ++i)
        rows::scaled_copy<Vec>(V, rr.beta[i], w.Vr + i * V, w.X + i * V);
      gemm::gemm_set<Vec>(kCausalK, L, V, L, rr.T, C, 1, w.X, V, w.Up, V);
      chunk::times_state<Vec>(/*accumulate=*/true, L, K, V, rr.W, S, V, w.Up, V);
    } else {
      rows::scaled_copy<Vec>(L * V, 1.0f, w.Vr, w.Up);
    }
    chunk::transpose<Vec>(K, V, S, V, w.ST, K);
    chunk::transpose<Vec>(K, V, w.dS, V, w.dST, K);
    chunk::transpose<Vec>(L, V, w.Up, V, w.UT, C);

    // dU' = A^T dOs + Kd dS.
    gemm::gemm_set<Vec>(kFull, L, V, L, rr.A, 1, C, w.dOs, V, w.dUp, V);
    gemm::gemm_acc<Vec>(kFull, L, V, K, rr.Kd, K, 1, w.dS, V, w.dUp, V);
    // dA o Gm, dA = dOs U'^T (lower, with the diagonal).
    gemm::gemm_set<Vec>(kLowerC, L, L, V, w.dOs, V, 1, w.UT, C, w.dA, C);
    chunk_backward::causal_decay<Vec>(L, C, G, gated, /*strict=*/false, w.dA);
    // dq^ = exp(G) (dOs S^T) + (dA o Gm) k^.
    gemm::gemm_set<Vec>(kFull, L, K, V, w.dOs, V, 1, w.ST, K, w.dq, K);
    if (gated)
      for (int64_t i = 0; i < L; ++i) rows::scal<Vec>(K, std::exp(G[i]), w.dq + i * K);
    gemm::gemm_acc<Vec>(kCausalK, L, K, L, w.dA, C, 1, w.Kh, K, w.dq, K);
    // dk^ = exp(G_last - G) (U' dS^T) + (dA o Gm)^T q^.
    gemm::gemm_set<Vec>(kFull, L, K, V, w.Up, V, 1, w.dST, K, w.dk, K);
    if (gated)
      for (int64_t i = 0; i < L; ++i) rows::scal<Vec>(K, std::exp(G[L - 1] - G[i]), w.dk + i * K);
    gemm::gemm_acc<Vec>(kFull, L, K, L, w.dA, 1, C, w.Qh, K, w.dk, K);

    float* dv = w.dUp;  // the linear family's dv is dU'
    float* dbeta = w.dbeta;
    if (delta) {
      // P = dU' S^T (dW = -P); TP = T^T P; TdU = T^T dU' (into X's place
      // after X^T is taken).
      gemm::gemm_set<Vec>(kFull, L, K, V, w.dUp, V, 1, w.ST, K, w.P, K);
      gemm::gemm_set<Vec>(kFull, L, K, L, rr.T, 1, C, w.P, K, w.TP, K);
      chunk::transpose<Vec>(L, V, w.X, V, w.XT, C);
      gemm::gemm_set<Vec>(kFull, L, V, L, rr.T, 1, C, w.dUp, V, w.X, V);  // X = T^T dU'
      // Kb = beta exp(G) k^ (transposed, K x C), the rows W was made of.
      for (int64_t i = 0; i < L; ++i) {
        const float wk = rr.beta[i] * (gated ? std::exp(G[i]) : 1.0f);
        for (int64_t x = 0; x < K; ++x) w.KbT[x * C + i] = wk * w.Kh[i * K + x];
      }
      for (int64_t i = 0; i < L; ++i) {
        const float e = gated ? std::exp(G[i]) : 1.0f;
        // dv = beta T^T dU'; dbeta from U and from W; dk^ from W.
        dbeta[i] = rows::dot<Vec>(V, w.Vr + i * V, w.X + i * V) -
                   e * rows::dot<Vec>(K, w.Kh + i * K, w.TP + i * K);
        rows::scal<Vec>(V, rr.beta[i], w.X + i * V);
        rows::axpy<Vec>(K, -rr.beta[i] * e, w.TP + i * K, w.dk + i * K);
      }
      dv = w.X;
      // dT = dU' (beta V)^T - P (beta exp(G) K)^T, strictly lower (T's
      // diagonal is fixed at 1).
      gemm::gemm_set<Vec>(kLowerC, L, L, V, w.dUp, V, 1, w.XT, C, w.dT, C);
      for (int64_t x = 0; x < L * K; ++x) w.P[x] = -w.P[x];
      gemm::gemm_acc<Vec>(kLowerC, L, L, K, w.P, K, 1, w.KbT, C, w.dT, C);
      chunk_backward::causal_decay<Vec>(L, C, G, false, /*strict=*/true, w.dT);
      // dA_k = -T^T (dT T^T), strictly lower.
      chunk::transpose<Vec>(L, L, rr.T, C, w.TT, C);
      gemm::gemm_set<Vec>(kFull, L, L, L, w.dT, C, 1, w.TT, C, w.Y, C);
      gemm::gemm_set<Vec>(kFull, L, L, L, rr.T, 1, C, w.Y, C, w.dA, C);
      // A_k = strict_lower(beta M), M = k^ k^T o Gm: dbeta_i += sum_j dA_k M;
      // dk^ += (beta dA_k o Gm) k^ + its transpose times k^.
      chunk::causal_scores<Vec>(L, K, C, w.Kh, w.KhT, G, gated, /*strict=*/true, w.M);
      for (int64_t i = 0; i < L; ++i) {
        float* row = w.dA + i * C;
        rows::scal<Vec>(i, -1.0f, row);
        dbeta[i] += rows::dot<Vec>(i, row, w.M + i * C);
        rows::scal<Vec>(i, rr.beta[i], row);
      }
      chunk_backward::causal_decay<Vec>(L, C, G, gated, /*strict=*/true, w.dA);
      gemm::gemm_acc<Vec>(kCausalK, L, K, L, w.dA, C, 1, w.Kh, K, w.dk, K);
      gemm::gemm_acc<Vec>(kFull, L, K, L, w.dA, 1, C, w.Kh, K, w.dk, K);
    }

    // dS <- exp(G_last) dS + (exp(G) Q)^T dOs + (-W)^T dU'.
    if (gated) rows::scal<Vec>(KV, std::exp(G[L - 1]), w.dS);
    gemm::gemm_acc<Vec>(kFull, K, V, L, rr.Q, 1, K, w.dOs, V, w.dS, V);
    if (delta) gemm::gemm_acc<Vec>(kFull, K, V, L, rr.W, 1, K, w.dUp, V, w.dS, V);

    // 3. The token rows: dg (a running sum from the end), dbeta, dv, and
    // the q^ and k^ sums.
    for (int64_t i = L - 1; i >= 0; --i) {
      const int64_t s = c0 + i;
      if (gated) {
        carry += rows::dot<Vec>(K, w.Qh + i * K, w.dq + i * K) -
                 rows::dot<Vec>(V, w.Vr + i * V, dv + i * V);
        if (b.dg.p) backward::put<Vec>(b.dg, s * b.dg.ts, carry);
      }
      if (b.dbeta.p && delta) {
        float d = dbeta[i] * t.beta_scale;
        if (t.beta_sigmoid) {
          const float sig = rr.beta[i] / t.beta_scale;
          d *= sig * (1.0f - sig);
        }
        backward::put<Vec>(b.dbeta, s * b.dbeta.ts, d);
      }
    }
    if (b.dv.p)
      for (int64_t i = 0; i < L; ++i)
        convert::narrow_scaled<Vec>(V, 1.0f, dv + i * V, b.dv.at(c0 + i), b.dv.dt);
    float* dq = b.dq_acc + c0 * K;
    float* dk = b.dk_acc + c0 * K;
    if (b.first_head) {
      rows::scaled_copy<Vec>(L * K, 1.0f, w.dq, dq);
      rows::scaled_copy<Vec>(L * K, 1.0f, w.dk, dk);
    } else {
      rows::axpy<Vec>(L * K, 1.0f, w.dq, dq);
      rows::axpy<Vec>(L * K, 1.0f, w.dk, dk);
    }
  }
  if (b.dS0)
    for (int64_t r = 0; r < K; ++r)
      rows::scaled_copy<Vec>(V, 1.0f, w.dS + r * V, b.dS0 + r * b.dS0_ld);
}

}  // namespace kern
}  // namespace fw
