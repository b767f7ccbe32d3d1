// Operand rows of any dtype (kernel_table.hpp: Rows): half types widened to
// fp32 as a row is loaded into the kernels' own floats, and rounded to
// nearest even once as an output row is stored. No pass over a whole tensor
// and no buffer beyond a row: the kernels already copy every q, k and
// chunked v row into their scratch, so the conversion rides on a copy that
// is there anyway; fp32 rows take the same code as before.
#pragma once

#include <cmath>
#include <cstdint>

#include "kernels/common/half_bits.hpp"
#include "kernels/common/rows.hpp"
#include "kernels/kernel_table.hpp"

namespace fw {
namespace convert {

// Element i of p as fp32: N at a time, or one.
template <class Vec, Dtype D>
inline typename Vec::type load(const void* p, int64_t i) {
  if constexpr (D == Dtype::f32) return Vec::load(static_cast<const float*>(p) + i);
  if constexpr (D == Dtype::f16) return Vec::load_f16(static_cast<const uint16_t*>(p) + i);
  if constexpr (D == Dtype::bf16) return Vec::load_bf16(static_cast<const uint16_t*>(p) + i);
}

template <class Vec, Dtype D>
inline float load1(const void* p, int64_t i) {
  if constexpr (D == Dtype::f32) return static_cast<const float*>(p)[i];
  if constexpr (D == Dtype::f16)
    return half_bits::f16_to_f32<Vec>(static_cast<const uint16_t*>(p)[i]);
  if constexpr (D == Dtype::bf16)
    return half_bits::bf16_to_f32<Vec>(static_cast<const uint16_t*>(p)[i]);
}

template <class Vec, Dtype D>
inline void store(void* p, int64_t i, typename Vec::type x) {
  if constexpr (D == Dtype::f32) Vec::store(static_cast<float*>(p) + i, x);
  if constexpr (D == Dtype::f16) Vec::store_f16(static_cast<uint16_t*>(p) + i, x);
  if constexpr (D == Dtype::bf16) Vec::store_bf16(static_cast<uint16_t*>(p) + i, x);
}

template <class Vec, Dtype D>
inline void store1(void* p, int64_t i, float x) {
  if constexpr (D == Dtype::f32) static_cast<float*>(p)[i] = x;
  if constexpr (D == Dtype::f16) static_cast<uint16_t*>(p)[i] = half_bits::f32_to_f16<Vec>(x);
  if constexpr (D == Dtype::bf16) static_cast<uint16_t*>(p)[i] = half_bits::f32_to_bf16<Vec>(x);
}

// dst = a * src (n elements of D), in fp32: for fp32, rows::scaled_copy's
// operations.
template <class Vec, Dtype D>
inline void widen_scaled_as(int64_t n, float a, const void* src, float* dst) {
  const typename Vec::type va = Vec::set1(a);
  int64_t i = 0;
  for (; i + Vec::N <= n; i += Vec::N) Vec::store(dst + i, Vec::mul(va, load<Vec, D>(src, i)));
  for (; i < n; ++i) dst[i] = a * load1<Vec, D>(src, i);
}

template <class Vec>
inline void widen_scaled(int64_t n, float a, const void* src, Dtype dt, float* dst) {
  switch (dt) {
    case Dtype::f32: return widen_scaled_as<Vec, Dtype::f32>(n, a, src, dst);
    case Dtype::f16: return widen_scaled_as<Vec, Dtype::f16>(n, a, src, dst);
    case Dtype::bf16: return widen_scaled_as<Vec, Dtype::bf16>(n, a, src, dst);
  }
}

// dst (n elements of D) = a * src, rounded once.
template <class Vec, Dtype D>
inline void narrow_scaled_as(int64_t n, float a, const float* src, void* dst) {
  const typename Vec::type va = Vec::set1(a);
  int64_t i = 0;
  for (; i + Vec::N <= n; i += Vec::N) store<Vec, D>(dst, i, Vec::mul(va, Vec::load(src + i)));
  for (; i < n; ++i) store1<Vec, D>(dst, i, a * src[i]);
}

template <class Vec>
inline void narrow_scaled(int64_t n, float a, const float* src, void* dst, Dtype dt) {
  switch (dt) {
    case Dtype::f32: return narrow_scaled_as<Vec, Dtype::f32>(n, a, src, dst);
    case Dtype::f16: return narrow_scaled_as<Vec, Dtype::f16>(n, a, src, dst);
    case Dtype::bf16: return narrow_scaled_as<Vec, Dtype::bf16>(n, a, src, dst);
  }
}

// Element i of p (a gate or a beta).
template <class Vec>
inline float element(const void* p, int64_t i, Dtype dt) {
  switch (dt) {
    case Dtype::f16: return load1<Vec, Dtype::f16>(p, i);
    case Dtype::bf16: return load1<Vec, Dtype::bf16>(p, i);
    default: return load1<Vec, Dtype::f32>(p, i);
  }
}

// Element i of p = x rounded to dt (a gradient of a gate or a beta).
template <class Vec>
inline void store_element(void* p, int64_t i, Dtype dt, float x) {
  switch (dt) {
    case Dtype::f32: return store1<Vec, Dtype::f32>(p, i, x);
    case Dtype::f16: return store1<Vec, Dtype::f16>(p, i, x);
    case Dtype::bf16: return store1<Vec, Dtype::bf16>(p, i, x);
  }
}

// dst = src, or src / sqrt(|src|^2 + 1e-6) with l2norm (rows::load_row,
// whose operations an fp32 row takes; a half row is widened into dst first
// and normalised there, the same operations on the same floats).
template <class Vec>
inline void load_row(int64_t n, const void* src, Dtype dt, float* dst, bool l2norm) {
  if (dt == Dtype::f32) return rows::load_row<Vec>(n, static_cast<const float*>(src), dst, l2norm);
  widen_scaled<Vec>(n, 1.0f, src, dt, dst);
  if (l2norm) rows::scal<Vec>(n, 1.0f / std::sqrt(rows::dot<Vec>(n, dst, dst) + 1e-6f), dst);
}

// Row t of x as fp32: in place, or widened into buf (n floats).
template <class Vec>
inline const float* row_f32(const InRows& x, int64_t t, int64_t n, float* buf) {
  if (x.is_f32()) return static_cast<const float*>(x.at(t));
  widen_scaled<Vec>(n, 1.0f, x.at(t), x.dt, buf);
  return buf;
}

}  // namespace convert
}  // namespace fw
