// fla's gate and beta options, applied as g and beta are loaded (and
// widened, for a half type)
// (ScanTask::gate_proj, beta_sigmoid, beta_scale): the kernels never see a
// raw gate or a raw beta. Scalar code, the same on every backend: K floats
// per token at most, beside the K x V state work. Templates on the vector
// policy, as every kernel helper (chunk_ops.hpp says why).
#pragma once

#include <cmath>
#include <cstdint>

#include "kernels/common/convert.hpp"
#include "kernels/kernel_table.hpp"

namespace fw {
namespace gates {

// log(1 + exp(x)), x past 20 taken as is (torch's softplus threshold).
template <class Vec>
inline float softplus(float x) {
  return x > 20.0f ? x : std::log1p(std::exp(x));
}

// The scalar gate of token s: g, or -exp(A_log) * softplus(a + dt_bias).
template <class Vec>
inline float scalar_gate(const ScanTask& t, int64_t s) {
  const float a = convert::element<Vec>(t.g.p, s * t.g.ts, t.g.dt);
  if (!t.gate_proj) return a;
  return t.gate_a * softplus<Vec>(a + (t.dt_bias ? t.dt_bias[0] : 0.0f));
}

// Row s of a per-channel gate: the caller's fp32 row, or the row widened
// and then projected in out (K floats).
template <class Vec>
inline const float* channel_gate_row(const ScanTask& t, int64_t s, float* out) {
  const float* a = convert::row_f32<Vec>(t.g, s, t.K, out);
  if (!t.gate_proj) return a;
  for (int64_t k = 0; k < t.K; ++k)
    out[k] = t.gate_a * softplus<Vec>(a[k] + (t.dt_bias ? t.dt_bias[k] : 0.0f));
  return out;
}

// beta of token s: b, or sigmoid(b); then times beta_scale (1, or 2).
template <class Vec>
inline float beta_at(const ScanTask& t, int64_t s) {
  float b = convert::element<Vec>(t.beta.p, s * t.beta.ts, t.beta.dt);
  if (t.beta_sigmoid) b = 1.0f / (1.0f + std::exp(-b));
  return b * t.beta_scale;
}

// beta_at's backward: the gradient of the b given, from that of the beta
// the kernels used (beta, as beta_at returned it): through the doubling,
// and sigmoid's s (1 - s) with beta_sigmoid.
template <class Vec>
inline float beta_gradient(const ScanTask& t, float beta, float d_beta) {
  float d = d_beta * t.beta_scale;
  if (t.beta_sigmoid) {
    const float s = beta / t.beta_scale;
    d *= s * (1.0f - s);
  }
  return d;
}

}  // namespace gates
}  // namespace fw
