// The double-precision reference of the scans' backward (issue 16): a
// reverse-mode pass over the recurrent form, written from the math as
// plainly as reference.hpp's forward, on dense [B, T, H(V), D] inputs in
// double (one sequence per batch row). test_reference_backward.cpp checks
// it against central differences of its own forward, and that forward
// against reference.hpp's; the library's backward kernels are then checked
// against it.
//
// Per token, with q^ and k^ the (optionally L2-normalised) rows, a the
// decay (exp(g), or exp(g_i) per key channel i):
//   linear attention, simple GLA, GLA:  S_t = diag(a) S_{t-1} + k^T v
//   delta rule, gated delta rule, KDA:  S' = diag(a) S_{t-1},
//                                       u = v - k S',  S_t = S' + beta k^T u
//   o_t = scale q S_t, or with normalize (linear attention) z_t = z_{t-1} + k,
//   o_t = scale q S_t / (scale q . z_t + eps).
#pragma once

#include <cmath>
#include <cstdint>
#include <vector>

#include "reference.hpp"

namespace fwtest {

struct GradProblem {
  fw_op op = FW_OP_LINEAR_ATTN;
  int64_t B = 1, T = 1, H = 1, HV = 1, K = 1, V = 1;
  bool l2 = false, normalize = false;
  double scale = 0, eps = 1e-6;  // scale 0: 1 / sqrt(K)
  // q, k [B, T, H, K]; v [B, T, HV, V]; g [B, T, HV] or [B, T, HV, K];
  // beta [B, T, HV]; S0 [B, HV, K, V] (empty: zeros). z starts at 0.
  std::vector<double> q, k, v, g, beta, S0;

  double the_scale() const { return scale != 0 ? scale : 1.0 / std::sqrt(double(K)); }
  bool channel() const { return is_channel_gated(op); }
};

struct Grads {
  std::vector<double> dq, dk, dv, dg, dbeta, dh0;
};

namespace refgrad {

// x / sqrt(|x|^2 + 1e-6) (fla's l2norm), and its backward: dx for dy.
inline std::vector<double> l2(const double* x, int64_t n, bool on) {
  std::vector<double> y(x, x + n);
  if (!on) return y;
  double s = 1e-6;
  for (double e : y) s += e * e;
  for (double& e : y) e /= std::sqrt(s);
  return y;
}

inline void l2_backward(const double* x, int64_t n, bool on, const std::vector<double>& dy,
                        double* dx) {
  if (!on) {
    for (int64_t i = 0; i < n; ++i) dx[i] += dy[i];
    return;
  }
  double s = 1e-6, xdy = 0;
  for (int64_t i = 0; i < n; ++i) {
    s += x[i] * x[i];
    xdy += x[i] * dy[i];
  }
  const double r = 1.0 / std::sqrt(s);
  for (int64_t i = 0; i < n; ++i) dx[i] += r * dy[i] - x[i] * xdy * r * r * r;
}

// One (batch row, value head) pair's tokens, forward, keeping every state:
// S[t] is the state after token t - 1 (S[0] the initial one), z likewise.
struct PairTrace {
  std::vector<std::vector<double>> S, z, qn, kn, decay, u;
  std::vector<std::vector<double>> o;
};

inline PairTrace trace_pair(const GradProblem& p, int64_t b, int64_t hv) {
  const int64_t T = p.T, K = p.K, V = p.V, h = hv / (p.HV / p.H);
  const bool delta = is_delta(p.op);
  PairTrace tr;
  std::vector<double> S(K * V, 0.0), z(K, 0.0);
  if (!p.S0.empty())
    for (int64_t x = 0; x < K * V; ++x) S[x] = p.S0[(b * p.HV + hv) * K * V + x];
  tr.S.push_back(S);
  tr.z.push_back(z);
  for (int64_t t = 0; t < T; ++t) {
    const std::vector<double> q = l2(&p.q[((b * T + t) * p.H + h) * K], K, p.l2);
    const std::vector<double> k = l2(&p.k[((b * T + t) * p.H + h) * K], K, p.l2);
    const double* v = &p.v[((b * T + t) * p.HV + hv) * V];
    std::vector<double> a(K, 1.0);
    if (!p.g.empty())
      for (int64_t i = 0; i < K; ++i)
        a[i] = std::exp(p.channel() ? p.g[((b * T + t) * p.HV + hv) * K + i]
                                    : p.g[(b * T + t) * p.HV + hv]);
    for (int64_t i = 0; i < K; ++i)
      for (int64_t j = 0; j < V; ++j) S[i * V + j] *= a[i];
    std::vector<double> u(v, v + V);
    double beta = 1.0;
    if (delta) {
      beta = p.beta[(b * T + t) * p.HV + hv];
      for (int64_t j = 0; j < V; ++j)
        for (int64_t i = 0; i < K; ++i) u[j] -= k[i] * S[i * V + j];
    }
    for (int64_t i = 0; i < K; ++i)
      for (int64_t j = 0; j < V; ++j) S[i * V + j] += beta * k[i] * u[j];
    double den = 1.0;
    if (p.normalize) {
      double qz = 0;
      for (int64_t i = 0; i < K; ++i) qz += q[i] * (z[i] += k[i]);
      den = p.the_scale() * qz + p.eps;
    }
    std::vector<double> o(V, 0.0);
    for (int64_t j = 0; j < V; ++j) {
      for (int64_t i = 0; i < K; ++i) o[j] += q[i] * S[i * V + j];
      o[j] *= p.the_scale() / den;
    }
    tr.S.push_back(S);
    tr.z.push_back(z);
    tr.qn.push_back(q);
    tr.kn.push_back(k);
    tr.decay.push_back(a);
    tr.u.push_back(u);
    tr.o.push_back(o);
  }
  return tr;
}

}  // namespace refgrad

// o [B, T, HV, V] and the final states [B, HV, K, V].
inline void forward_double(const GradProblem& p, std::vector<double>* o, std::vector<double>* ST) {
  o->assign(p.B * p.T * p.HV * p.V, 0.0);
  ST->assign(p.B * p.HV * p.K * p.V, 0.0);
  for (int64_t b = 0; b < p.B; ++b)
    for (int64_t hv = 0; hv < p.HV; ++hv) {
      const refgrad::PairTrace tr = refgrad::trace_pair(p, b, hv);
      for (int64_t t = 0; t < p.T; ++t)
        for (int64_t j = 0; j < p.V; ++j) (*o)[((b * p.T + t) * p.HV + hv) * p.V + j] = tr.o[t][j];
      for (int64_t x = 0; x < p.K * p.V; ++x) (*ST)[(b * p.HV + hv) * p.K * p.V + x] = tr.S[p.T][x];
    }
}

// The gradients of L = sum(dout * o) + sum(dht * S_T) (dht empty: 0).
inline Grads backward_double(const GradProblem& p, const std::vector<double>& dout,
                             const std::vector<double>& dht) {
  const int64_t T = p.T, K = p.K, V = p.V;
  const bool delta = is_delta(p.op);
  const double scale = p.the_scale();
  Grads d;
  d.dq.assign(p.q.size(), 0.0);
  d.dk.assign(p.k.size(), 0.0);
  d.dv.assign(p.v.size(), 0.0);
  d.dg.assign(p.g.size(), 0.0);
  d.dbeta.assign(p.beta.size(), 0.0);
  d.dh0.assign(p.B * p.HV * K * V, 0.0);
  for (int64_t b = 0; b < p.B; ++b)
    for (int64_t hv = 0; hv < p.HV; ++hv) {
      const int64_t h = hv / (p.HV / p.H);
      const refgrad::PairTrace tr = refgrad::trace_pair(p, b, hv);
      std::vector<double> dS(K * V, 0.0), dz(K, 0.0);
      if (!dht.empty())
        for (int64_t x = 0; x < K * V; ++x) dS[x] = dht[(b * p.HV + hv) * K * V + x];
      for (int64_t t = T - 1; t >= 0; --t) {
        const std::vector<double>&q = tr.qn[t], &k = tr.kn[t], &a = tr.decay[t], &u = tr.u[t];
        const std::vector<double>&S = tr.S[t + 1], &Sp = tr.S[t], &z = tr.z[t + 1];
        const double* go = &dout[((b * T + t) * p.HV + hv) * V];
        std::vector<double> dq(K, 0.0), dk(K, 0.0), dy(V);
        // o = scale y / den, y = q S_t, den = scale q . z_t + eps (1 without normalize).
        double den = 1.0, qz = 0;
        if (p.normalize) {
          for (int64_t i = 0; i < K; ++i) qz += q[i] * z[i];
          den = scale * qz + p.eps;
          double ddot = 0;  // d(den) = -sum_j go_j o_j / den
          for (int64_t j = 0; j < V; ++j) ddot -= go[j] * tr.o[t][j] / den;
          for (int64_t i = 0; i < K; ++i) {
            dq[i] += scale * z[i] * ddot;
            dz[i] += scale * q[i] * ddot;
          }
        }
        for (int64_t j = 0; j < V; ++j) dy[j] = scale * go[j] / den;
        for (int64_t i = 0; i < K; ++i)
          for (int64_t j = 0; j < V; ++j) {
            dq[i] += S[i * V + j] * dy[j];
            dS[i * V + j] += q[i] * dy[j];
          }
        // S_t = S' + beta k^T u (u = v without the delta rule, beta 1).
        const double beta = delta ? p.beta[(b * T + t) * p.HV + hv] : 1.0;
        double* dv = &d.dv[((b * T + t) * p.HV + hv) * V];
        std::vector<double> du(V, 0.0);
        double dbeta = 0;
        for (int64_t i = 0; i < K; ++i)
          for (int64_t j = 0; j < V; ++j) {
            dbeta += k[i] * dS[i * V + j] * u[j];
            dk[i] += beta * dS[i * V + j] * u[j];
            du[j] += beta * k[i] * dS[i * V + j];
          }
        std::vector<double> dSp = dS;  // dL/dS'
        for (int64_t j = 0; j < V; ++j) dv[j] += du[j];
        if (delta) {  // u = v - k S'
          d.dbeta[(b * T + t) * p.HV + hv] += dbeta;
          for (int64_t i = 0; i < K; ++i)
            for (int64_t j = 0; j < V; ++j) {
              const double Sd = a[i] * Sp[i * V + j];  // S'
              dk[i] -= Sd * du[j];
              dSp[i * V + j] -= k[i] * du[j];
            }
        }
        if (p.normalize)  // z_t = z_{t-1} + k
          for (int64_t i = 0; i < K; ++i) dk[i] += dz[i];
        // S' = diag(a) S_{t-1}, a = exp(g): dg = a <dS', S_{t-1}> per row.
        if (!p.g.empty())
          for (int64_t i = 0; i < K; ++i) {
            double r = 0;
            for (int64_t j = 0; j < V; ++j) r += dSp[i * V + j] * Sp[i * V + j];
            d.dg[p.channel() ? ((b * T + t) * p.HV + hv) * K + i : (b * T + t) * p.HV + hv] +=
                a[i] * r;
          }
        for (int64_t i = 0; i < K; ++i)
          for (int64_t j = 0; j < V; ++j) dS[i * V + j] = a[i] * dSp[i * V + j];
        refgrad::l2_backward(&p.q[((b * T + t) * p.H + h) * K], K, p.l2, dq,
                             &d.dq[((b * T + t) * p.H + h) * K]);
        refgrad::l2_backward(&p.k[((b * T + t) * p.H + h) * K], K, p.l2, dk,
                             &d.dk[((b * T + t) * p.H + h) * K]);
      }
      for (int64_t x = 0; x < K * V; ++x) d.dh0[(b * p.HV + hv) * K * V + x] = dS[x];
    }
  return d;
}

}  // namespace fwtest
