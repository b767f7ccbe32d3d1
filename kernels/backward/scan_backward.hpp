// The scans' backward, one (sequence, value head) pair at a time, for every
// op (docs/design.md, "The backward"). Per token, with q^ and k^ the loaded
// (optionally L2-normalised) rows and a the decay (exp(g), per key channel
// for GLA and KDA, 1 ungated):
//   S' = diag(a) S_{t-1};  u = v - k^ S' (delta rules; else u = v, beta = 1)
//   S_t = S' + beta k^T u;  o_t = scale q^ S_t (/ (scale q^ . z_t + eps))
// and in reverse, dS the gradient of S_t carried from the later tokens:
//   dy = scale do / den;  dq^ = S_t dy;  dS += q^T dy
//   du = beta k^ dS;  dbeta = k^ dS u^T;  dk^ = beta dS u;  dv = du
//   delta rules: dk^ -= S' du;  dS' = dS - k^T du;  else dS' = dS
//   dg_i = <dS'_i, S'_i> (row i; summed over rows for a scalar gate)
//   dS_{t-1} = diag(a) dS'
// The states it needs come from checkpoints: one forward pass keeps the
// state before every interval-th token, then each interval, last first, is
// recomputed from its checkpoint keeping every state, and walked back.
// Every float is computed in one fixed order, whatever the caller's
// chunk or thread count.
#pragma once

#include <cmath>
#include <cstdint>

#include "kernels/common/chunk_ops.hpp"
#include "kernels/common/convert.hpp"
#include "kernels/common/gates.hpp"
#include "kernels/common/rows.hpp"
#include "kernels/kernel_table.hpp"

namespace fw {
namespace kern {
namespace backward {

// The per-token rows an interval keeps: token i's q^, k^ and decays (K
// each; a scalar gate's decay in element 0), u (V) and beta.
struct IntervalRows {
  float *qn, *kn, *decay, *u, *beta;
  int64_t K, V;
  float* q(int64_t i) const { return qn + i * K; }
  float* k(int64_t i) const { return kn + i * K; }
  float* a(int64_t i) const { return decay + i * K; }
  float* uv(int64_t i) const { return u + i * V; }
};

// Rows [s0, s0 + n) of this pair's q^ or k^ gradient d (row stride K; out
// = b.dq and sums = b.dq_acc, or dk's): the output rows themselves when the
// pair is its q/k head's only value head and no L2 norm lies between
// (direct_qk), else added into the sums.
template <class Vec>
inline void add_grad_rows(const BackwardTask& b, const OutRows& out, float* sums, int64_t s0,
                          int64_t n, const float* d, int64_t far = 0) {
  const int64_t K = b.f.K;
  if (b.direct_qk) {
    if (out.p) chunk::store_rows<Vec>(out, s0, n, b.f.T, K, d, nullptr, 1.0f, b.f.stream_o, far);
    return;
  }
  if (b.first_head)
    rows::scaled_copy<Vec>(n * K, 1.0f, d, sums + s0 * K);
  else
    rows::axpy<Vec>(n * K, 1.0f, d, sums + s0 * K);
}

// Both gradients' rows.
template <class Vec>
inline void add_qk_rows(const BackwardTask& b, int64_t s0, int64_t n, const float* dq,
                        const float* dk) {
  add_grad_rows<Vec>(b, b.dq, b.dq_acc, s0, n, dq);
  add_grad_rows<Vec>(b, b.dk, b.dk_acc, s0, n, dk);
}

// Token s forward, from the state Sp (K x V, row stride V, then z) to Sn
// (the same floats allowed: each row of Sp is read before its row of Sn is
// written, and the delta rules' read k^ S' is complete before any write);
// the token's rows go to slot i of kept. vbuf: V floats.
template <class Vec>
inline void step(const ScanTask& t, int64_t s, const float* Sp, float* Sn, const IntervalRows& kept,
                 int64_t i, float* vbuf) {
  using VT = typename Vec::type;
  const int64_t K = t.K, V = t.V;
  float *qn = kept.q(i), *kn = kept.k(i), *a = kept.a(i), *u = kept.uv(i);
  convert::load_row<Vec>(K, t.q.at(s), t.q.dt, qn, t.qk_l2norm);
  convert::load_row<Vec>(K, t.k.at(s), t.k.dt, kn, t.qk_l2norm);
  if (!t.g.p) {
    a[0] = 1.0f;
  } else if (!t.g_channel) {
    a[0] = std::exp(gates::scalar_gate<Vec>(t, s));
  } else {
    rows::exp_row<Vec>(K, gates::channel_gate_row<Vec>(t, s, a), a);
  }
  const bool delta = t.beta.p != nullptr;
  kept.beta[i] = delta ? gates::beta_at<Vec>(t, s) : 1.0f;
  const float* v = convert::row_f32<Vec>(t.v, s, V, vbuf);
  auto decay = [&](int64_t r) { return t.g_channel ? a[r] : a[0]; };
  if (delta) {  // u = v - sum_r (k_r a_r) Sp_r
    rows::fill<Vec>(V, 0.0f, u);
    for (int64_t r = 0; r < K; ++r) rows::axpy<Vec>(V, kn[r] * decay(r), Sp + r * V, u);
    rows::rsub<Vec>(V, v, u);
  } else {
    rows::scaled_copy<Vec>(V, 1.0f, v, u);
  }
  for (int64_t r = 0; r < K; ++r) {
    const VT vs = Vec::set1(decay(r)), vb = Vec::set1(kept.beta[i] * kn[r]);
    const float* src = Sp + r * V;
    float* dst = Sn + r * V;
    int64_t j = 0;
    for (; j + Vec::N <= V; j += Vec::N)
      Vec::store(dst + j, Vec::fma(vb, Vec::load(u + j), Vec::mul(vs, Vec::load(src + j))));
    for (; j < V; ++j) dst[j] = Vec::fma1(kept.beta[i] * kn[r], u[j], decay(r) * src[j]);
  }
  if (t.normalize) {  // z_t = z_{t-1} + k^
    const float* zp = Sp + K * V;
    float* zn = Sn + K * V;
    for (int64_t r = 0; r < K; ++r) zn[r] = zp[r] + kn[r];
  }
}

// Rows of scratch the reverse step works in.
struct Temps {
  float *go, *dy, *du, *y, *vbuf;  // V each
  float *dq, *dk, *dg, *dSu;       // K each
};

// Token s backward: Sp the state before it, Sn after (each with z), slot
// i of rows its forward rows; dS (and dz after it) the gradient of Sn,
// turned into that of Sp. Writes the token's dv, dg and dbeta, and adds
// its q^ and k^ gradients into the accumulators.
template <class Vec>
inline void reverse_step(const BackwardTask& b, int64_t s, const float* Sp, const float* Sn,
                         const IntervalRows& kept, int64_t i, float* dS, const Temps& w) {
  using VT = typename Vec::type;
  const ScanTask& t = b.f;
  const int64_t K = t.K, V = t.V;
  const float *qn = kept.q(i), *kn = kept.k(i), *a = kept.a(i), *u = kept.uv(i);
  const float beta = kept.beta[i];
  const bool delta = t.beta.p != nullptr;
  auto decay = [&](int64_t r) { return t.g_channel ? a[r] : a[0]; };
  float* dz = dS + K * V;
  const float* zn = Sn + K * V;

  // o_t = sc (q^ S_t), sc = scale / den.
  const float* go = convert::row_f32<Vec>(b.dO, s, V, w.go);
  float den = 1.0f;
  if (t.normalize) den = t.scale * rows::dot<Vec>(K, qn, zn) + t.eps;
  const float sc = t.scale / den;
  rows::scaled_copy<Vec>(V, sc, go, w.dy);
  // dq^ = S_t dy; with normalize also y = q^ S_t (for o).
  if (t.normalize) rows::fill<Vec>(V, 0.0f, w.y);
  for (int64_t r = 0; r < K; ++r) {
    w.dq[r] = rows::dot<Vec>(V, Sn + r * V, w.dy);
    if (t.normalize) rows::axpy<Vec>(V, qn[r], Sn + r * V, w.y);
  }
  if (t.normalize) {  // den = scale q^ . z_t + eps: d(den) = -sum_j do_j o_j / den
    float ddot = 0.0f;
    for (int64_t j = 0; j < V; ++j) ddot -= go[j] * (sc * w.y[j]) / den;
    for (int64_t r = 0; r < K; ++r) {
      w.dq[r] += t.scale * zn[r] * ddot;
      dz[r] += t.scale * qn[r] * ddot;
    }
  }
  // dS += q^T dy; dSu = dS u; du = beta k^ dS.
  rows::fill<Vec>(V, 0.0f, w.du);
  for (int64_t r = 0; r < K; ++r) {
    float* row = dS + r * V;
    rows::axpy<Vec>(V, qn[r], w.dy, row);
    w.dSu[r] = rows::dot<Vec>(V, row, u);
    rows::axpy<Vec>(V, kn[r], row, w.du);
  }
  rows::scal<Vec>(V, beta, w.du);
  float dbeta = 0.0f;
  for (int64_t r = 0; r < K; ++r) {
    dbeta += kn[r] * w.dSu[r];
    w.dk[r] = beta * w.dSu[r];
  }
  if (b.dv.p) convert::narrow_scaled<Vec>(V, 1.0f, w.du, b.dv.at(s), b.dv.dt);
  // Row r: S'_r = a_r Sp_r; dk^_r -= S'_r . du and dS'_r = dS_r - k^_r du
  // (delta rules); dg_r = dS'_r . S'_r; dS_r = a_r dS'_r.
  for (int64_t r = 0; r < K; ++r) {
    const VT va = Vec::set1(decay(r)), vk = Vec::set1(delta ? kn[r] : 0.0f);
    const float* sp = Sp + r * V;
    float* row = dS + r * V;
    VT sdu = Vec::zero(), dgr = Vec::zero();
    int64_t j = 0;
    for (; j + Vec::N <= V; j += Vec::N) {
      const VT spr = Vec::mul(va, Vec::load(sp + j)), du = Vec::load(w.du + j);
      const VT dsp = Vec::sub(Vec::load(row + j), Vec::mul(vk, du));
      sdu = Vec::fma(spr, du, sdu);
      dgr = Vec::fma(dsp, spr, dgr);
      Vec::store(row + j, Vec::mul(va, dsp));
    }
    float sdu1 = Vec::hsum(sdu), dg1 = Vec::hsum(dgr);
    for (; j < V; ++j) {
      const float spr = decay(r) * sp[j];
      const float dsp = row[j] - (delta ? kn[r] : 0.0f) * w.du[j];
      sdu1 = Vec::fma1(spr, w.du[j], sdu1);
      dg1 = Vec::fma1(dsp, spr, dg1);
      row[j] = decay(r) * dsp;
    }
    if (delta) w.dk[r] -= sdu1;
    w.dg[r] = dg1;
  }
  if (t.normalize) rows::axpy<Vec>(K, 1.0f, dz, w.dk);  // z_t = z_{t-1} + k^

  add_qk_rows<Vec>(b, s, 1, w.dq, w.dk);
  if (b.dg.p) {
    if (t.g_channel) {
      convert::narrow_scaled<Vec>(K, 1.0f, w.dg, b.dg.at(s), b.dg.dt);
    } else {
      float sum = 0.0f;
      for (int64_t r = 0; r < K; ++r) sum += w.dg[r];
      convert::store_element<Vec>(b.dg.p, s * b.dg.ts, b.dg.dt, sum);
    }
  }
  if (b.dbeta.p)
    convert::store_element<Vec>(b.dbeta.p, s * b.dbeta.ts, b.dbeta.dt,
                                gates::beta_gradient<Vec>(t, beta, dbeta));
}

}  // namespace backward

// One pair's backward: the checkpoint pass, then each interval recomputed
// and walked back. ws: backward_scratch(T, K, V, interval).total floats.
template <class Vec>
void scan_backward(const BackwardTask& b, float* ws) {
  const ScanTask& t = b.f;
  const int64_t T = t.T, K = t.K, V = t.V, I = b.interval, KV = K * V;
  const BackwardScratch L = backward_scratch(T, K, V, I);
  float* const checkpoints = ws;
  float* const states = checkpoints + L.checkpoints * L.state;  // after each token of an interval
  float* const dS = states + I * L.state;                       // then dz
  backward::IntervalRows kept;
  kept.qn = dS + L.state;
  kept.kn = kept.qn + I * K;
  kept.decay = kept.kn + I * K;
  kept.u = kept.decay + I * K;
  kept.beta = kept.u + I * V;
  kept.K = K;
  kept.V = V;
  float* const temps = kept.beta + I;
  const backward::Temps w{
      temps,         temps + V,         temps + 2 * V,         temps + 3 * V,        temps + 4 * V,
      temps + 5 * V, temps + 5 * V + K, temps + 5 * V + 2 * K, temps + 5 * V + 3 * K};

  // Checkpoint 0: the initial state (zeros when absent) and z.
  for (int64_t r = 0; r < K; ++r) {
    if (t.S)
      rows::scaled_copy<Vec>(V, 1.0f, t.S + r * t.S_ld, checkpoints + r * V);
    else
      rows::fill<Vec>(V, 0.0f, checkpoints + r * V);
  }
  if (t.normalize && t.z)
    rows::scaled_copy<Vec>(K, 1.0f, t.z, checkpoints + KV);
  else
    rows::fill<Vec>(K, 0.0f, checkpoints + KV);
  for (int64_t c = 1; c < L.checkpoints; ++c) {
    float* S = checkpoints + c * L.state;
    rows::scaled_copy<Vec>(L.state, 1.0f, S - L.state, S);
    for (int64_t s = (c - 1) * I; s < c * I; ++s) backward::step<Vec>(t, s, S, S, kept, 0, w.vbuf);
  }

  for (int64_t r = 0; r < K; ++r) {
    if (b.dST)
      rows::scaled_copy<Vec>(V, 1.0f, b.dST + r * b.dST_ld, dS + r * V);
    else
      rows::fill<Vec>(V, 0.0f, dS + r * V);
  }
  rows::fill<Vec>(K, 0.0f, dS + KV);
  for (int64_t c = L.checkpoints - 1; c >= 0; --c) {
    const int64_t s0 = c * I, n = T - s0 < I ? T - s0 : I;
    auto before = [&](int64_t i) {
      return i == 0 ? checkpoints + c * L.state : states + (i - 1) * L.state;
    };
    for (int64_t i = 0; i < n; ++i)
      backward::step<Vec>(t, s0 + i, before(i), states + i * L.state, kept, i, w.vbuf);
    for (int64_t i = n - 1; i >= 0; --i)
      backward::reverse_step<Vec>(b, s0 + i, before(i), states + i * L.state, kept, i, dS, w);
  }
  Vec::stream_fence();  // dq's and dk's streamed rows (store_rows)
  if (b.dS0)
    for (int64_t r = 0; r < K; ++r)
      rows::scaled_copy<Vec>(V, 1.0f, dS + r * V, b.dS0 + r * b.dS0_ld);
}

// dq and dk of a q/k head from the sums of its value heads' q^ and k^
// gradients: through the L2 norm with qk_l2norm (y = x / n, n =
// sqrt(|x|^2 + 1e-6): dx = dy / n - x (x . dy) / n^3), rounded to their
// dtype. ws: 2 K floats.
template <class Vec>
void scan_backward_qk(const BackwardTask& b, float* ws) {
  const ScanTask& t = b.f;
  const int64_t K = t.K;
  if (b.direct_qk) return;  // written as they were formed
  for (int64_t s = 0; s < t.T; ++s) {
    for (int which = 0; which < 2; ++which) {
      const OutRows& out = which == 0 ? b.dq : b.dk;
      const InRows& in = which == 0 ? t.q : t.k;
      const float* acc = (which == 0 ? b.dq_acc : b.dk_acc) + s * K;
      if (!out.p) continue;
      if (!t.qk_l2norm) {
        convert::narrow_scaled<Vec>(K, 1.0f, acc, out.at(s), out.dt);
        continue;
      }
      const float* x = convert::row_f32<Vec>(in, s, K, ws);
      const float inv = 1.0f / std::sqrt(rows::dot<Vec>(K, x, x) + 1e-6f);
      const float c = -rows::dot<Vec>(K, x, acc) * inv * inv * inv;
      float* dx = ws + K;
      rows::scaled_copy<Vec>(K, inv, acc, dx);
      rows::axpy<Vec>(K, c, x, dx);
      convert::narrow_scaled<Vec>(K, 1.0f, dx, out.at(s), out.dt);
    }
  }
}

}  // namespace kern
}  // namespace fw
