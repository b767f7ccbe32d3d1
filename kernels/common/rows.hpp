// Row primitives over contiguous float arrays, written once over a vector
// policy (vec_scalar.hpp, vec_xsimd.hpp). Every scan kernel is composed of
// these: the state is K rows of V floats, so nearly all work is a
// multiply-add along V.
#pragma once

#include <cmath>
#include <cstdint>

namespace fw {
namespace rows {

// Whether rows of n floats at dst, ld floats apart, are whole cache lines
// that the vectors can write past the caches (stream_rows_unfenced).
template <class Vec>
inline bool whole_lines(int64_t n, int64_t ld, const float* dst) {
  constexpr int64_t kLine = 64 / sizeof(float);
  return Vec::N > 1 && n % kLine == 0 && ld % kLine == 0 &&
         reinterpret_cast<uintptr_t>(dst) % 64 == 0;
}

// dst rows (m x n, row stride ldd) = src rows (row stride lds), streamed
// past the caches; whole_lines(n, ldd, dst) must hold, and the caller ends
// its run of streamed rows with Vec::stream_fence().
template <class Vec>
inline void stream_rows_unfenced(int64_t m, int64_t n, const float* src, int64_t lds, float* dst,
                                 int64_t ldd) {
  for (int64_t i = 0; i < m; ++i)
    for (int64_t x = 0; x < n; x += Vec::N)
      Vec::stream(dst + i * ldd + x, Vec::load(src + i * lds + x));
}

// Asks for the cache lines of bytes [0, n) from x, for writing if asked.
// The empty asm marks the function as having an effect: GCC 12 otherwise
// found a caller made only of prefetches pure and deleted the call.
template <class Vec>
inline void prefetch_bytes(const void* x, int64_t n, bool for_write) {
  const char* c = static_cast<const char*>(x);
  for (int64_t i = 0; i < n; i += 64) {
    if (for_write)
      __builtin_prefetch(c + i, 1);
    else
      __builtin_prefetch(c + i);
  }
  asm volatile("");
}

// The cache lines of x[0 : n).
template <class Vec>
inline void prefetch(const float* x, int64_t n, bool for_write) {
  prefetch_bytes<Vec>(x, n * static_cast<int64_t>(sizeof(float)), for_write);
}

// y += a * x
template <class Vec>
inline void axpy(int64_t n, float a, const float* x, float* y) {
  const typename Vec::type va = Vec::set1(a);
  int64_t i = 0;
  for (; i + Vec::N <= n; i += Vec::N)
    Vec::store(y + i, Vec::fma(va, Vec::load(x + i), Vec::load(y + i)));
  for (; i < n; ++i) y[i] = Vec::fma1(a, x[i], y[i]);
}

// y = s * y + a * x   (decay-then-write of a gated state row)
template <class Vec>
inline void scale_axpy(int64_t n, float s, float* y, float a, const float* x) {
  const typename Vec::type vs = Vec::set1(s), va = Vec::set1(a);
  int64_t i = 0;
  for (; i + Vec::N <= n; i += Vec::N)
    Vec::store(y + i, Vec::fma(va, Vec::load(x + i), Vec::mul(vs, Vec::load(y + i))));
  for (; i < n; ++i) y[i] = Vec::fma1(a, x[i], s * y[i]);
}

// y *= a
template <class Vec>
inline void scal(int64_t n, float a, float* y) {
  const typename Vec::type va = Vec::set1(a);
  int64_t i = 0;
  for (; i + Vec::N <= n; i += Vec::N) Vec::store(y + i, Vec::mul(va, Vec::load(y + i)));
  for (; i < n; ++i) y[i] *= a;
}

// y = a * x
template <class Vec>
inline void scaled_copy(int64_t n, float a, const float* x, float* y) {
  const typename Vec::type va = Vec::set1(a);
  int64_t i = 0;
  for (; i + Vec::N <= n; i += Vec::N) Vec::store(y + i, Vec::mul(va, Vec::load(x + i)));
  for (; i < n; ++i) y[i] = a * x[i];
}

// y = x - y
template <class Vec>
inline void rsub(int64_t n, const float* x, float* y) {
  int64_t i = 0;
  for (; i + Vec::N <= n; i += Vec::N)
    Vec::store(y + i, Vec::sub(Vec::load(x + i), Vec::load(y + i)));
  for (; i < n; ++i) y[i] = x[i] - y[i];
}

template <class Vec>
inline void fill(int64_t n, float a, float* y) {
  const typename Vec::type va = Vec::set1(a);
  int64_t i = 0;
  for (; i + Vec::N <= n; i += Vec::N) Vec::store(y + i, va);
  for (; i < n; ++i) y[i] = a;
}

// y = exp(x): a per-channel gate's decays. The tail uses std::exp, the
// body the vector policy's exp; every layout of a state reads the same y.
template <class Vec>
inline void exp_row(int64_t n, const float* x, float* y) {
  int64_t i = 0;
  for (; i + Vec::N <= n; i += Vec::N) Vec::store(y + i, Vec::exp(Vec::load(x + i)));
  for (; i < n; ++i) y[i] = std::exp(x[i]);
}

// y = y < t ? 0 : y (a NaN stays)
template <class Vec>
inline void flush_below(int64_t n, float t, float* y) {
  int64_t i = 0;
  for (; i + Vec::N <= n; i += Vec::N) Vec::store(y + i, Vec::flush_below(Vec::load(y + i), t));
  for (; i < n; ++i) y[i] = y[i] < t ? 0.0f : y[i];
}

// z = x * y, elementwise
template <class Vec>
inline void mul(int64_t n, const float* x, const float* y, float* z) {
  int64_t i = 0;
  for (; i + Vec::N <= n; i += Vec::N)
    Vec::store(z + i, Vec::mul(Vec::load(x + i), Vec::load(y + i)));
  for (; i < n; ++i) z[i] = x[i] * y[i];
}

// z += x * y, elementwise
template <class Vec>
inline void mul_add(int64_t n, const float* x, const float* y, float* z) {
  int64_t i = 0;
  for (; i + Vec::N <= n; i += Vec::N)
    Vec::store(z + i, Vec::fma(Vec::load(x + i), Vec::load(y + i), Vec::load(z + i)));
  for (; i < n; ++i) z[i] = Vec::fma1(x[i], y[i], z[i]);
}

// sum_i x_i * y_i
template <class Vec>
inline float dot(int64_t n, const float* x, const float* y) {
  typename Vec::type acc = Vec::zero();
  int64_t i = 0;
  for (; i + Vec::N <= n; i += Vec::N) acc = Vec::fma(Vec::load(x + i), Vec::load(y + i), acc);
  float s = Vec::hsum(acc);
  for (; i < n; ++i) s = Vec::fma1(x[i], y[i], s);
  return s;
}

// dot over a long run (a whole state, K V floats), four sums in flight: in
// one sum it is a chain of n / N dependent FMAs (1024 at K = V = 128 and
// AVX-512), once per chunk in a scalar gate's backward (which this and
// add_score_terms' register sum took to 0.99x its time).
template <class Vec>
inline float dot_long(int64_t n, const float* x, const float* y) {
  using VT = typename Vec::type;
  VT a0 = Vec::zero(), a1 = Vec::zero(), a2 = Vec::zero(), a3 = Vec::zero();
  constexpr int64_t N = Vec::N;
  int64_t i = 0;
  for (; i + 4 * N <= n; i += 4 * N) {
    a0 = Vec::fma(Vec::load(x + i), Vec::load(y + i), a0);
    a1 = Vec::fma(Vec::load(x + i + N), Vec::load(y + i + N), a1);
    a2 = Vec::fma(Vec::load(x + i + 2 * N), Vec::load(y + i + 2 * N), a2);
    a3 = Vec::fma(Vec::load(x + i + 3 * N), Vec::load(y + i + 3 * N), a3);
  }
  for (; i + N <= n; i += N) a0 = Vec::fma(Vec::load(x + i), Vec::load(y + i), a0);
  float s = Vec::hsum(Vec::add(Vec::add(a0, a1), Vec::add(a2, a3)));
  for (; i < n; ++i) s = Vec::fma1(x[i], y[i], s);
  return s;
}

// The fused recurrent sweep over one state row:
//   S_row = s * S_row + a * d;  acc += b * S_row  (acc = 0 + b * S_row with
//   first: the same sum from zero, without reading acc)
template <class Vec, bool first = false>
inline void update_and_read(int64_t n, float s, float* S_row, float a, const float* d, float b,
                            float* acc) {
  const typename Vec::type vs = Vec::set1(s), va = Vec::set1(a), vb = Vec::set1(b);
  int64_t i = 0;
  for (; i + Vec::N <= n; i += Vec::N) {
    const typename Vec::type r = Vec::fma(va, Vec::load(d + i), Vec::mul(vs, Vec::load(S_row + i)));
    Vec::store(S_row + i, r);
    Vec::store(acc + i, Vec::fma(vb, r, first ? Vec::zero() : Vec::load(acc + i)));
  }
  for (; i < n; ++i) {
    const float r = Vec::fma1(a, d[i], s * S_row[i]);
    S_row[i] = r;
    acc[i] = Vec::fma1(b, r, first ? 0.0f : acc[i]);
  }
}

// dst = src, or src / sqrt(|src|^2 + 1e-6) with l2norm (fla's l2norm).
template <class Vec>
inline void load_row(int64_t n, const float* src, float* dst, bool l2norm) {
  float a = 1.0f;
  if (l2norm) a = 1.0f / std::sqrt(dot<Vec>(n, src, src) + 1e-6f);
  scaled_copy<Vec>(n, a, src, dst);
}

}  // namespace rows
}  // namespace fw
