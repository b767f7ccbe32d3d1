// Feature maps phi of Schlag et al. 2021 §5, applied row by row. The kinds
// and formulas are those of fw_feature_map_kind in the public header.
#pragma once

#include <cmath>
#include <cstdint>

#include "kernels/common/convert.hpp"
#include "kernels/common/rows.hpp"
#include "kernels/kernel_table.hpp"

namespace fw {
namespace kern {

// Same values as fw_feature_map_kind (the public enum stays out of kernels).
enum FeatureKind : int32_t {
  kIdentity = 0,
  kEluPlusOne = 1,
  kRelu = 2,
  kDpfp = 3,
  kFavorPlus = 4,
  kSumNorm = 5,
  kL2Norm = 6
};

// out = max(x, 0) + exp(min(x, 0)) when elu, else max(x, 0): ELU+1 is x + 1
// for x > 0 and exp(x) otherwise, written branch-free.
template <class Vec>
inline void rectify_row(int64_t n, const float* x, float* out, bool elu) {
  const typename Vec::type zero = Vec::zero();
  int64_t i = 0;
  for (; i + Vec::N <= n; i += Vec::N) {
    const typename Vec::type xi = Vec::load(x + i);
    typename Vec::type r = Vec::max(xi, zero);
    if (elu) r = Vec::add(r, Vec::exp(Vec::min(xi, zero)));
    Vec::store(out + i, r);
  }
  for (; i < n; ++i) {
    const float xi = x[i];
    out[i] =
        elu ? (xi > 0.0f ? xi : 0.0f) + std::exp(xi < 0.0f ? xi : 0.0f) : (xi > 0.0f ? xi : 0.0f);
  }
}

// j mod n for j in (-n, 2n): DPFP's shifts stay within one period (the API
// keeps nu < 2d = n). Two integer divisions per product had made DPFP-2 of
// d = 8 take 1 us a row: 4160 rows took 4.2 ms forward and 6.5 backward,
// now 0.8 and 0.6 (ELU+1: 0.3; one thread, Cascade Lake).
inline int64_t wrap(int64_t j, int64_t n) { return j < 0 ? j + n : (j >= n ? j - n : j); }

// DPFP-nu: r = [relu(x), relu(-x)] (2d), out[(i-1) 2d + j] = r_j r_{(j - i) mod 2d}.
template <class Vec>
inline void dpfp_row(int64_t d, int32_t nu, const float* x, float* out) {
  const int64_t n = 2 * d;
  auto r = [&](int64_t j) {
    const float xi = j < d ? x[j] : -x[j - d];
    return xi > 0.0f ? xi : 0.0f;
  };
  for (int64_t i = 1; i <= nu; ++i)
    for (int64_t j = 0; j < n; ++j) out[(i - 1) * n + j] = r(j) * r(wrap(j - i, n));
}

// FAVOR+: out_i = exp(w_i . x - |x|^2 / 2) / sqrt(m)
template <class Vec>
inline void favor_row(int64_t d, int64_t m, const float* proj, const float* x, float* out) {
  const float half_sq = 0.5f * rows::dot<Vec>(d, x, x);
  const float norm = 1.0f / std::sqrt(static_cast<float>(m));
  for (int64_t i = 0; i < m; ++i)
    out[i] = std::exp(rows::dot<Vec>(d, proj + i * d, x) - half_sq) * norm;
}

template <class Vec>
void feature_map(const FeatureMapTask& t) {
  const int64_t d = t.dim;
  for (int64_t r = 0; r < t.rows; ++r) {
    // A half row is mapped in fp32 scratch: widened in, rounded once out.
    const float* x = convert::row_f32<Vec>(t.x, r, d, t.ws);
    float* out = t.out.is_f32() ? static_cast<float*>(t.out.at(r)) : t.ws + d;
    switch (t.kind) {
      case kIdentity: rows::scaled_copy<Vec>(d, 1.0f, x, out); break;
      case kEluPlusOne: rectify_row<Vec>(d, x, out, true); break;
      case kRelu: rectify_row<Vec>(d, x, out, false); break;
      case kDpfp: dpfp_row<Vec>(d, t.nu, x, out); break;
      case kFavorPlus: favor_row<Vec>(d, t.m, t.proj, x, out); break;
      case kSumNorm: {
        float s = 0.0f;
        for (int64_t i = 0; i < d; ++i) s += x[i];
        rows::scaled_copy<Vec>(d, 1.0f / (s + t.eps), x, out);
        break;
      }
      case kL2Norm:
        rows::scaled_copy<Vec>(d, 1.0f / std::sqrt(rows::dot<Vec>(d, x, x) + t.eps), x, out);
        break;
      default: break;  // kinds are validated by the API layer
    }
    if (!t.out.is_f32()) convert::narrow_scaled<Vec>(t.out_dim, 1.0f, out, t.out.at(r), t.out.dt);
  }
}

// The backward, dx = dy J(x), row by row (fw_feature_map_backward). Every
// row is recomputed from x (FAVOR+'s outputs, DPFP's r); sums run in one
// fixed order, so threads never change a bit.

// DPFP: with n = 2d and out[(i-1) n + j] = r_j r_((j - i) mod n),
// dr_m = sum_i dy[(i-1) n + m] r_((m - i) mod n) + dy[(i-1) n + (m + i) mod n]
// r_((m + i) mod n); then dx_m = dr_m [x_m > 0] - dr_(m+d) [x_m < 0].
template <class Vec>
inline void dpfp_backward_row(int64_t d, int32_t nu, const float* x, const float* dy, float* r,
                              float* dr, float* dx) {
  const int64_t n = 2 * d;
  for (int64_t j = 0; j < n; ++j) {
    const float xi = j < d ? x[j] : -x[j - d];
    r[j] = xi > 0.0f ? xi : 0.0f;
  }
  for (int64_t m = 0; m < n; ++m) {
    float g = 0.0f;
    for (int64_t i = 1; i <= nu; ++i) {
      const float* dyi = dy + (i - 1) * n;
      g += dyi[m] * r[wrap(m - i, n)];
      g += dyi[wrap(m + i, n)] * r[wrap(m + i, n)];
    }
    dr[m] = g;
  }
  for (int64_t m = 0; m < d; ++m)
    dx[m] = (x[m] > 0.0f ? dr[m] : 0.0f) - (x[m] < 0.0f ? dr[m + d] : 0.0f);
}

// FAVOR+: y_i = exp(w_i . x - |x|^2 / 2) / sqrt(m), dy_i/dx = y_i (w_i - x):
// dx = sum_i c_i w_i - (sum_i c_i) x with c_i = dy_i y_i.
template <class Vec>
inline void favor_backward_row(int64_t d, int64_t m, const float* proj, const float* x,
                               const float* dy, float* y, float* dx) {
  favor_row<Vec>(d, m, proj, x, y);
  rows::fill<Vec>(d, 0.0f, dx);
  float total = 0.0f;
  for (int64_t i = 0; i < m; ++i) {
    const float c = dy[i] * y[i];
    rows::axpy<Vec>(d, c, proj + i * d, dx);
    total += c;
  }
  rows::axpy<Vec>(d, -total, x, dx);
}

template <class Vec>
void feature_map_backward(const FeatureMapTask& t) {
  const int64_t d = t.dim, n = t.out_dim;
  float* x_buf = t.ws;        // d
  float* dy_buf = x_buf + d;  // n
  float* y = dy_buf + n;      // n
  float* dr = y + n;          // n
  float* dx_buf = dr + n;     // d
  const typename Vec::type zero = Vec::zero();
  for (int64_t r = 0; r < t.rows; ++r) {
    const float* x = convert::row_f32<Vec>(t.x, r, d, x_buf);
    const float* dy = convert::row_f32<Vec>(t.dy, r, n, dy_buf);
    float* dx = t.dx.is_f32() ? static_cast<float*>(t.dx.at(r)) : dx_buf;
    switch (t.kind) {
      case kIdentity: rows::scaled_copy<Vec>(d, 1.0f, dy, dx); break;
      case kEluPlusOne: {  // slope exp(min(x, 0)): 1 for x >= 0, exp(x) below
        int64_t i = 0;
        for (; i + Vec::N <= d; i += Vec::N)
          Vec::store(dx + i,
                     Vec::mul(Vec::load(dy + i), Vec::exp(Vec::min(Vec::load(x + i), zero))));
        for (; i < d; ++i) dx[i] = dy[i] * std::exp(x[i] < 0.0f ? x[i] : 0.0f);
        break;
      }
      case kRelu:  // slope 1 for x > 0, else 0 (the kink's subgradient 0)
        for (int64_t i = 0; i < d; ++i) dx[i] = x[i] > 0.0f ? dy[i] : 0.0f;
        break;
      case kDpfp: dpfp_backward_row<Vec>(d, t.nu, x, dy, y, dr, dx); break;
      case kFavorPlus: favor_backward_row<Vec>(d, t.m, t.proj, x, dy, y, dx); break;
      case kSumNorm: {  // y = x / (s + eps): dx_j = (dy_j - dy . y) / (s + eps)
        float s = 0.0f;
        for (int64_t i = 0; i < d; ++i) s += x[i];
        const float inv = 1.0f / (s + t.eps);
        const float dot = rows::dot<Vec>(d, dy, x) * inv;
        for (int64_t i = 0; i < d; ++i) dx[i] = (dy[i] - dot) * inv;
        break;
      }
      case kL2Norm: {  // y = x / q, q = sqrt(|x|^2 + eps): dx = (dy - (dy . y) y) / q
        const float inv = 1.0f / std::sqrt(rows::dot<Vec>(d, x, x) + t.eps);
        const float dot = rows::dot<Vec>(d, dy, x) * inv * inv;
        for (int64_t i = 0; i < d; ++i) dx[i] = (dy[i] - dot * x[i]) * inv;
        break;
      }
      default: break;  // kinds are validated by the API layer
    }
    if (!t.dx.is_f32()) convert::narrow_scaled<Vec>(d, 1.0f, dx, t.dx.at(r), t.dx.dt);
  }
}

}  // namespace kern
}  // namespace fw
