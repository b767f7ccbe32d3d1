// Double-precision reference of every scan, written as plainly as the math
// in docs/design.md ("The math"): one token at a time, no chunking, no vectors. Inputs are
// taken in the same strided layout the library reads.
#pragma once

#include <cmath>
#include <cstdint>
#include <vector>

#include "fastweights/fastweights.h"

namespace fwtest {

// Ops come from the library's registry (fw_op_get_info).
inline fw_op_info op_info(fw_op op) {
  fw_op_info info{};
  info.struct_size = sizeof info;
  fw_op_get_info(op, &info);
  return info;
}
inline bool is_gated(fw_op op) { return op_info(op).gate != FW_GATE_NONE; }
inline bool is_delta(fw_op op) { return op_info(op).has_beta != 0; }
// g [B, T, HV, K]: a log-decay per key channel (GLA, KDA).
inline bool is_channel_gated(fw_op op) { return op_info(op).gate == FW_GATE_CHANNEL; }

struct RefResult {
  std::vector<double> o;      // [B, T, HV, V] contiguous
  std::vector<double> state;  // [N, HV, K, V]
  std::vector<double> norm;   // [N, HV, K]
};

inline std::vector<double> ref_row(const float* p, int64_t n, bool l2) {
  std::vector<double> x(p, p + n);
  if (l2) {
    double s = 0;
    for (double e : x) s += e * e;
    const double inv = 1.0 / std::sqrt(s + 1e-6);
    for (double& e : x) e *= inv;
  }
  return x;
}

// a: the library arguments (strides included); initial states read from a
// (K-first, one slot per sequence).
inline RefResult reference_scan(fw_op op, const fw_scan_args& a) {
  const int64_t B = a.batch, T = a.seq_len, H = a.num_heads, HV = a.num_value_heads;
  const int64_t K = a.head_dim_k, V = a.head_dim_v;
  const int64_t N = a.cu_seqlens ? a.num_seqs : B;
  const bool l2 = a.flags & FW_FLAG_QK_L2NORM, normalize = a.flags & FW_FLAG_NORMALIZE;
  const double scale = a.scale != 0.0f ? a.scale : 1.0 / std::sqrt(double(K));
  const float* q = static_cast<const float*>(a.q.data);
  const float* k = static_cast<const float*>(a.k.data);
  const float* v = static_cast<const float*>(a.v.data);
  const float* g = static_cast<const float*>(a.g.data);
  const float* beta = static_cast<const float*>(a.beta.data);
  const float* S0 = static_cast<const float*>(a.initial_state.data);
  const float* z0 = static_cast<const float*>(a.initial_norm.data);
  const int64_t* ss = a.initial_state.stride;
  const int64_t* zs = a.initial_norm.stride;
  RefResult r;
  r.o.assign(B * T * HV * V, 0.0);
  r.state.assign(N * HV * K * V, 0.0);
  r.norm.assign(N * HV * K, 0.0);
  for (int64_t n = 0; n < N; ++n) {
    const int64_t b = a.cu_seqlens ? 0 : n;
    const int64_t t0 = a.cu_seqlens ? a.cu_seqlens[n] : 0;
    const int64_t t1 = a.cu_seqlens ? a.cu_seqlens[n + 1] : T;
    for (int64_t hv = 0; hv < HV; ++hv) {
      const int64_t h = hv / (HV / H);
      double* S = &r.state[(n * HV + hv) * K * V];
      double* z = &r.norm[(n * HV + hv) * K];
      if (S0)
        for (int64_t i = 0; i < K; ++i)
          for (int64_t j = 0; j < V; ++j) S[i * V + j] = S0[n * ss[0] + hv * ss[1] + i * ss[2] + j];
      if (z0)
        for (int64_t i = 0; i < K; ++i) z[i] = z0[n * zs[0] + hv * zs[1] + i];
      for (int64_t t = t0; t < t1; ++t) {
        const auto qt =
            ref_row(q + b * a.q.stride[0] + t * a.q.stride[1] + h * a.q.stride[2], K, l2);
        const auto kt =
            ref_row(k + b * a.k.stride[0] + t * a.k.stride[1] + h * a.k.stride[2], K, l2);
        const float* vt = v + b * a.v.stride[0] + t * a.v.stride[1] + hv * a.v.stride[2];
        // S' (forget before error): row i decays by exp(g) of the token, or
        // of its key channel i with a per-channel gate.
        const float* gt = g ? g + b * a.g.stride[0] + t * a.g.stride[1] + hv * a.g.stride[2] : g;
        for (int64_t i = 0; i < K; ++i) {
          const double decay = !gt ? 1.0 : std::exp(double(gt[is_channel_gated(op) ? i : 0]));
          for (int64_t j = 0; j < V; ++j) S[i * V + j] *= decay;
        }
        std::vector<double> w(vt, vt + V);  // what is written
        if (is_delta(op)) {
          const double bt =
              beta[b * a.beta.stride[0] + t * a.beta.stride[1] + hv * a.beta.stride[2]];
          for (int64_t j = 0; j < V; ++j) {
            double kS = 0;
            for (int64_t i = 0; i < K; ++i) kS += kt[i] * S[i * V + j];
            w[j] = bt * (vt[j] - kS);
          }
        }
        for (int64_t i = 0; i < K; ++i)
          for (int64_t j = 0; j < V; ++j) S[i * V + j] += kt[i] * w[j];
        double den = 1.0;  // normalize: scale q . z + eps (fla's normalize=True)
        if (normalize) {
          double qz = 0;
          for (int64_t i = 0; i < K; ++i) {
            z[i] += kt[i];
            qz += qt[i] * z[i];
          }
          den = scale * qz + a.eps;
        }
        double* ot = &r.o[((b * T + t) * HV + hv) * V];
        for (int64_t j = 0; j < V; ++j) {
          double s = 0;
          for (int64_t i = 0; i < K; ++i) s += qt[i] * S[i * V + j];
          ot[j] = scale * s / den;
        }
      }
    }
  }
  return r;
}

}  // namespace fwtest
