// Vector policy over an xsimd 8.1 architecture (see vec_scalar.hpp for the
// interface). Scalar tails use std::fma so that they round like the vector
// body; each ISA file is compiled with flags that make std::fma one
// instruction.
#pragma once

#include <cmath>
#include <cstdint>
#include <type_traits>

#include <xsimd/xsimd.hpp>

#include "kernels/common/half_bits.hpp"

namespace fw {

// xsimd 8.1 has no AVX-512 kernel for fma: batch<float, avx512*> falls back
// to x * y + z, which our -ffp-contract=off keeps as a multiply and an add
// (half the FMA peak; seen in perf as vmulps + vaddps in the gemm loop).
// AVX-512 gets the intrinsic; NEON and FMA3 use xsimd's own.
template <class Arch, class B>
inline B fused_multiply_add(const B& a, const B& b, const B& c) {
#if defined(__AVX512F__)
  if constexpr (std::is_base_of<xsimd::avx512f, Arch>::value) return B(_mm512_fmadd_ps(a, b, c));
#endif
  return xsimd::fma(a, b, c);
}

// exp, on AVX-512 as 2^n exp(r): n = round(x log2 e), r = x - n ln 2 in two
// parts (|r| <= ln 2 / 2), exp(r) by its Taylor series to r^7 (truncation
// under 6e-9), 2^n by vscalefps, which also gives 0 and inf at the ends; x
// is held to [-104, 100] first, beyond which the result is 0 or inf either
// way, and a NaN stays. xsimd 8.1's (separate multiplies and adds, its own
// 2^n) took 1.4-2.8x the time; max relative error over [-87, 0] 7.5e-8
// against its 1.1e-7.
template <class Arch, class B>
inline B exp_vec(const B& x) {
#if defined(__AVX512F__)
  if constexpr (std::is_base_of<xsimd::avx512f, Arch>::value) {
    __m512 v = _mm512_max_ps(_mm512_set1_ps(-104.0f), x);  // a NaN (second) stays
    v = _mm512_min_ps(_mm512_set1_ps(100.0f), v);
    const __m512 n = _mm512_roundscale_ps(_mm512_mul_ps(v, _mm512_set1_ps(1.44269504088896341f)),
                                          _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    __m512 r = _mm512_fnmadd_ps(n, _mm512_set1_ps(0.693359375f), v);  // ln 2, high part exact
    r = _mm512_fnmadd_ps(n, _mm512_set1_ps(-2.12194440e-4f), r);      // and the rest
    __m512 y = _mm512_set1_ps(1.0f / 5040);
    for (const float c : {1.0f / 720, 1.0f / 120, 1.0f / 24, 1.0f / 6, 0.5f})
      y = _mm512_fmadd_ps(y, r, _mm512_set1_ps(c));
    y = _mm512_fmadd_ps(y, _mm512_mul_ps(r, r), r);
    return B(_mm512_scalef_ps(_mm512_add_ps(y, _mm512_set1_ps(1.0f)), n));
  }
#endif
  return xsimd::exp(x);
}

// dst (N x N, row stride ldd) = the transpose of src (N x N, row stride
// lds), N the vector width, in registers. xsimd 8.1 has no transpose and its
// zips work within 128-bit lanes, so AVX-512 and AVX2 use intrinsics (the
// usual unpack / 128-bit-lane shuffle network); four-wide vectors use zips.
// At T = 4096, H = 16, K = V = 128 (AVX-512, one thread) the scalar
// transpose of each chunk's keys had been a quarter of linear attention's
// prepare in perf. Tag (the ISA file's, see vec_scalar.hpp) keeps each
// backend's copy apart: it is too big to be always inlined.
template <class Arch, class Tag, class B>
inline void transpose_block(const float* src, int64_t lds, float* dst, int64_t ldd) {
  constexpr int N = static_cast<int>(B::size);
#if defined(__AVX512F__)
  if constexpr (std::is_base_of<xsimd::avx512f, Arch>::value) {
// GCC 12's unpack intrinsics pass an undefined vector as the mask source and
// -Wuninitialized flags it (a false positive, GCC bug 105593).
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wuninitialized"
    __m512 r[16], t[16];
    for (int i = 0; i < 16; ++i) r[i] = _mm512_loadu_ps(src + i * lds);
    // Within each 128-bit lane l: t[4m + j] = column 4l + j of rows 4m .. 4m + 3.
    for (int i = 0; i < 16; i += 2) {
      t[i] = _mm512_unpacklo_ps(r[i], r[i + 1]);
      t[i + 1] = _mm512_unpackhi_ps(r[i], r[i + 1]);
    }
    for (int m = 0; m < 16; m += 4) {
      const __m512d a = _mm512_castps_pd(t[m]), b = _mm512_castps_pd(t[m + 1]);
      const __m512d c = _mm512_castps_pd(t[m + 2]), d = _mm512_castps_pd(t[m + 3]);
      r[m] = _mm512_castpd_ps(_mm512_unpacklo_pd(a, c));
      r[m + 1] = _mm512_castpd_ps(_mm512_unpackhi_pd(a, c));
      r[m + 2] = _mm512_castpd_ps(_mm512_unpacklo_pd(b, d));
      r[m + 3] = _mm512_castpd_ps(_mm512_unpackhi_pd(b, d));
    }
    // Gather lane l of r[j], r[4 + j], r[8 + j], r[12 + j]: column 4l + j.
    for (int j = 0; j < 4; ++j) {
      const __m512 even0 = _mm512_shuffle_f32x4(r[j], r[4 + j], 0x88);
      const __m512 odd0 = _mm512_shuffle_f32x4(r[j], r[4 + j], 0xDD);
      const __m512 even1 = _mm512_shuffle_f32x4(r[8 + j], r[12 + j], 0x88);
      const __m512 odd1 = _mm512_shuffle_f32x4(r[8 + j], r[12 + j], 0xDD);
      _mm512_storeu_ps(dst + j * ldd, _mm512_shuffle_f32x4(even0, even1, 0x88));
      _mm512_storeu_ps(dst + (4 + j) * ldd, _mm512_shuffle_f32x4(odd0, odd1, 0x88));
      _mm512_storeu_ps(dst + (8 + j) * ldd, _mm512_shuffle_f32x4(even0, even1, 0xDD));
      _mm512_storeu_ps(dst + (12 + j) * ldd, _mm512_shuffle_f32x4(odd0, odd1, 0xDD));
    }
#pragma GCC diagnostic pop
    return;
  }
#endif
#if defined(__AVX2__)
  if constexpr (std::is_base_of<xsimd::avx2, Arch>::value) {
    __m256 r[8], t[8];
    for (int i = 0; i < 8; ++i) r[i] = _mm256_loadu_ps(src + i * lds);
    for (int i = 0; i < 8; i += 2) {
      t[i] = _mm256_unpacklo_ps(r[i], r[i + 1]);
      t[i + 1] = _mm256_unpackhi_ps(r[i], r[i + 1]);
    }
    // Within each 128-bit lane l: r[4m + j] = column 4l + j of rows 4m .. 4m + 3.
    for (int m = 0; m < 8; m += 4) {
      r[m] = _mm256_shuffle_ps(t[m], t[m + 2], _MM_SHUFFLE(1, 0, 1, 0));
      r[m + 1] = _mm256_shuffle_ps(t[m], t[m + 2], _MM_SHUFFLE(3, 2, 3, 2));
      r[m + 2] = _mm256_shuffle_ps(t[m + 1], t[m + 3], _MM_SHUFFLE(1, 0, 1, 0));
      r[m + 3] = _mm256_shuffle_ps(t[m + 1], t[m + 3], _MM_SHUFFLE(3, 2, 3, 2));
    }
    for (int j = 0; j < 4; ++j) {
      _mm256_storeu_ps(dst + j * ldd, _mm256_permute2f128_ps(r[j], r[4 + j], 0x20));
      _mm256_storeu_ps(dst + (4 + j) * ldd, _mm256_permute2f128_ps(r[j], r[4 + j], 0x31));
    }
    return;
  }
#endif
  if constexpr (N == 4) {
    const B r0 = B::load_unaligned(src), r1 = B::load_unaligned(src + lds);
    const B r2 = B::load_unaligned(src + 2 * lds), r3 = B::load_unaligned(src + 3 * lds);
    const B a = xsimd::zip_lo(r0, r2), b = xsimd::zip_hi(r0, r2);  // a0 c0 a1 c1, a2 c2 a3 c3
    const B c = xsimd::zip_lo(r1, r3), d = xsimd::zip_hi(r1, r3);  // b0 d0 b1 d1, b2 d2 b3 d3
    xsimd::zip_lo(a, c).store_unaligned(dst);
    xsimd::zip_hi(a, c).store_unaligned(dst + ldd);
    xsimd::zip_lo(b, d).store_unaligned(dst + 2 * ldd);
    xsimd::zip_hi(b, d).store_unaligned(dst + 3 * ldd);
  } else {
    for (int i = 0; i < N; ++i)
      for (int j = 0; j < N; ++j) dst[j * ldd + i] = src[i * lds + j];
  }
}

// A store of a vector to a line-aligned address that bypasses the caches
// where the ISA has one (AVX-512, AVX2), a plain store elsewhere; then
// stream_fence orders those stores before whatever the thread does next.
template <class Arch, class B>
inline void stream_store(float* p, const B& x) {
#if defined(__AVX512F__)
  if constexpr (std::is_base_of<xsimd::avx512f, Arch>::value) return _mm512_stream_ps(p, x);
#endif
#if defined(__AVX2__)
  if constexpr (std::is_base_of<xsimd::avx2, Arch>::value) return _mm256_stream_ps(p, x);
#endif
  x.store_aligned(p);
}

template <class Arch>
inline void stream_fence() {
#if defined(__AVX2__)
  if constexpr (std::is_base_of<xsimd::avx2, Arch>::value ||
                std::is_base_of<xsimd::avx512f, Arch>::value)
    _mm_sfence();
#endif
}

// The lanes of x added in a halving tree: lane l + lane l + N/2 for
// l < N/2, then the same on those N/2 sums, down to one. The recurrent
// kernels' K-first sums (state_sweep.hpp) add their N partial sums in this
// order, so a V-first row's dot product gives the same bits.
template <class Arch, class B>
inline float tree_sum(const B& x) {
  constexpr int N = static_cast<int>(B::size);
#if defined(__AVX512F__)
  if constexpr (std::is_base_of<xsimd::avx512f, Arch>::value) {
    const __m512 v = x;
    const __m256 s8 = _mm256_add_ps(_mm512_castps512_ps256(v), _mm512_extractf32x8_ps(v, 1));
    const __m128 s4 = _mm_add_ps(_mm256_castps256_ps128(s8), _mm256_extractf128_ps(s8, 1));
    const __m128 s2 = _mm_add_ps(s4, _mm_movehl_ps(s4, s4));
    return _mm_cvtss_f32(_mm_add_ss(s2, _mm_shuffle_ps(s2, s2, 1)));
  }
#endif
#if defined(__AVX2__)
  if constexpr (std::is_base_of<xsimd::avx2, Arch>::value) {
    const __m256 v = x;
    const __m128 s4 = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    const __m128 s2 = _mm_add_ps(s4, _mm_movehl_ps(s4, s4));
    return _mm_cvtss_f32(_mm_add_ss(s2, _mm_shuffle_ps(s2, s2, 1)));
  }
#endif
  alignas(64) float a[N];
  x.store_aligned(a);
  for (int h = N / 2; h >= 1; h /= 2)
    for (int l = 0; l < h; ++l) a[l] = a[l] + a[l + h];
  return a[0];
}

// Dot products split over kSumLanes partial sums (linear attention's
// recurrent q S, state_sweep.hpp; docs/design.md, "Algorithms"): lane l
// sums elements i = l mod kSumLanes in order, then the lanes are added in a
// halving tree. Eight on AVX-512, where a 16-wide vector's halves go one
// after the other into a 256-bit sum: the K-first sweep then keeps 8
// partial rows, not 16 (K-first decode at B = 64, HV = 32, K = V = 128 took
// 0.94x the 16-lane time on Zen 4); the vector width elsewhere.
template <class Arch, class B, class = void>
struct LaneSums {
  using type = B;
  static constexpr int kLanes = static_cast<int>(B::size);
  static type zero() { return B(0.0f); }
  static type fma(const B& a, const B& b, const type& acc) {
    return fused_multiply_add<Arch>(a, b, acc);
  }
  static float tree(const type& x) { return tree_sum<Arch>(x); }
};

#if defined(__AVX512F__)
template <class Arch, class B>
struct LaneSums<Arch, B, std::enable_if_t<std::is_base_of<xsimd::avx512f, Arch>::value>> {
  using type = __m256;
  static constexpr int kLanes = 8;
  static type zero() { return _mm256_setzero_ps(); }
  static type fma(const B& a, const B& b, const type& acc) {
    const __m512 x = a, y = b;
    const __m256 lo = _mm256_fmadd_ps(_mm512_castps512_ps256(x), _mm512_castps512_ps256(y), acc);
    return _mm256_fmadd_ps(_mm512_extractf32x8_ps(x, 1), _mm512_extractf32x8_ps(y, 1), lo);
  }
  static float tree(const type& x) {
    const __m128 s4 = _mm_add_ps(_mm256_castps256_ps128(x), _mm256_extractf128_ps(x, 1));
    const __m128 s2 = _mm_add_ps(s4, _mm_movehl_ps(s4, s4));
    return _mm_cvtss_f32(_mm_add_ss(s2, _mm_shuffle_ps(s2, s2, 1)));
  }
};
#endif

// Half types, N at a time (half_bits.hpp gives the same bits one at a
// time): fp16 through F16C / AVX-512F vcvtph2ps and vcvtps2ph (round to
// nearest even) and NEON's fcvtl / fcvtn; bf16 widened by a shift, narrowed
// by adding 0x7fff plus the kept part's lowest bit (round to nearest even),
// a NaN made quiet instead, then the low halves packed. Other
// architectures convert lane by lane.
template <class Arch, class Tag, class B>
inline B load_f16(const uint16_t* p) {
#if defined(__AVX512F__)
  if constexpr (std::is_base_of<xsimd::avx512f, Arch>::value)
    return B(_mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(p))));
#endif
#if defined(__AVX2__) && defined(__F16C__)
  if constexpr (std::is_base_of<xsimd::avx2, Arch>::value)
    return B(_mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p))));
#endif
#if defined(__aarch64__)
  if constexpr (std::is_base_of<xsimd::neon64, Arch>::value)
    return B(vcvt_f32_f16(vreinterpret_f16_u16(vld1_u16(p))));
#endif
  constexpr int N = static_cast<int>(B::size);
  alignas(64) float a[N];
  for (int i = 0; i < N; ++i) a[i] = half_bits::f16_to_f32<Tag>(p[i]);
  return B::load_aligned(a);
}

template <class Arch, class Tag, class B>
inline B load_bf16(const uint16_t* p) {
#if defined(__AVX512F__)
  if constexpr (std::is_base_of<xsimd::avx512f, Arch>::value) {
    const __m512i w =
        _mm512_cvtepu16_epi32(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(p)));
    return B(_mm512_castsi512_ps(_mm512_slli_epi32(w, 16)));
  }
#endif
#if defined(__AVX2__)
  if constexpr (std::is_base_of<xsimd::avx2, Arch>::value) {
    const __m256i w = _mm256_cvtepu16_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p)));
    return B(_mm256_castsi256_ps(_mm256_slli_epi32(w, 16)));
  }
#endif
#if defined(__aarch64__)
  if constexpr (std::is_base_of<xsimd::neon64, Arch>::value)
    return B(vreinterpretq_f32_u32(vshll_n_u16(vld1_u16(p), 16)));
#endif
  constexpr int N = static_cast<int>(B::size);
  alignas(64) float a[N];
  for (int i = 0; i < N; ++i) a[i] = half_bits::bf16_to_f32<Tag>(p[i]);
  return B::load_aligned(a);
}

template <class Arch, class Tag, class B>
inline void store_f16(uint16_t* p, const B& x) {
#if defined(__AVX512F__)
  if constexpr (std::is_base_of<xsimd::avx512f, Arch>::value) {
    const __m256i h = _mm512_cvtps_ph(x, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    return _mm256_storeu_si256(reinterpret_cast<__m256i*>(p), h);
  }
#endif
#if defined(__AVX2__) && defined(__F16C__)
  if constexpr (std::is_base_of<xsimd::avx2, Arch>::value) {
    const __m128i h = _mm256_cvtps_ph(x, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    return _mm_storeu_si128(reinterpret_cast<__m128i*>(p), h);
  }
#endif
#if defined(__aarch64__)
  if constexpr (std::is_base_of<xsimd::neon64, Arch>::value)
    return vst1_u16(p, vreinterpret_u16_f16(vcvt_f16_f32(x)));
#endif
  constexpr int N = static_cast<int>(B::size);
  alignas(64) float a[N];
  x.store_aligned(a);
  for (int i = 0; i < N; ++i) p[i] = half_bits::f32_to_f16<Tag>(a[i]);
}

template <class Arch, class Tag, class B>
inline void store_bf16(uint16_t* p, const B& x) {
#if defined(__AVX512F__)
  if constexpr (std::is_base_of<xsimd::avx512f, Arch>::value) {
    const __m512i u = _mm512_castps_si512(x), hi = _mm512_srli_epi32(u, 16);
    const __m512i odd = _mm512_and_si512(hi, _mm512_set1_epi32(1));
    __m512i r = _mm512_srli_epi32(
        _mm512_add_epi32(u, _mm512_add_epi32(odd, _mm512_set1_epi32(0x7fff))), 16);
    const __mmask16 nan = _mm512_cmp_ps_mask(x, x, _CMP_UNORD_Q);
    r = _mm512_mask_mov_epi32(r, nan, _mm512_or_si512(hi, _mm512_set1_epi32(0x40)));
    return _mm256_storeu_si256(reinterpret_cast<__m256i*>(p), _mm512_cvtepi32_epi16(r));
  }
#endif
#if defined(__AVX2__)
  if constexpr (std::is_base_of<xsimd::avx2, Arch>::value) {
    const __m256i u = _mm256_castps_si256(x), hi = _mm256_srli_epi32(u, 16);
    const __m256i odd = _mm256_and_si256(hi, _mm256_set1_epi32(1));
    __m256i r = _mm256_srli_epi32(
        _mm256_add_epi32(u, _mm256_add_epi32(odd, _mm256_set1_epi32(0x7fff))), 16);
    const __m256i nan = _mm256_castps_si256(_mm256_cmp_ps(x, x, _CMP_UNORD_Q));
    r = _mm256_blendv_epi8(r, _mm256_or_si256(hi, _mm256_set1_epi32(0x40)), nan);
    // packus works within 128-bit lanes: 0-3 0-3 | 4-7 4-7, then 0-3 4-7 first.
    const __m256i packed = _mm256_permute4x64_epi64(_mm256_packus_epi32(r, r), 0xD8);
    return _mm_storeu_si128(reinterpret_cast<__m128i*>(p), _mm256_castsi256_si128(packed));
  }
#endif
#if defined(__aarch64__)
  if constexpr (std::is_base_of<xsimd::neon64, Arch>::value) {
    const uint32x4_t u = vreinterpretq_u32_f32(x), hi = vshrq_n_u32(u, 16);
    const uint32x4_t odd = vandq_u32(hi, vdupq_n_u32(1));
    const uint32x4_t r = vshrq_n_u32(vaddq_u32(u, vaddq_u32(odd, vdupq_n_u32(0x7fff))), 16);
    const uint32x4_t is_num = vceqq_f32(x, x);
    return vst1_u16(p, vmovn_u32(vbslq_u32(is_num, r, vorrq_u32(hi, vdupq_n_u32(0x40)))));
  }
#endif
  constexpr int N = static_cast<int>(B::size);
  alignas(64) float a[N];
  x.store_aligned(a);
  for (int i = 0; i < N; ++i) p[i] = half_bits::f32_to_bf16<Tag>(a[i]);
}

// MR x NV: gemm.hpp's register block, rows x vectors of accumulators; each
// ISA file picks it (kernels/isa/*.cpp says which figures chose it).
template <class Arch, class Tag, int MR = 4, int NV = 3>
struct XsimdVec {
  using type = xsimd::batch<float, Arch>;
  static constexpr int N = static_cast<int>(type::size);
  static constexpr int kMR = MR, kNV = NV;
  static type load(const float* p) { return type::load_unaligned(p); }
  static void store(float* p, type x) { x.store_unaligned(p); }
  static void stream(float* p, type x) { stream_store<Arch>(p, x); }
  static void stream_fence() { fw::stream_fence<Arch>(); }
  static type load_f16(const uint16_t* p) { return fw::load_f16<Arch, Tag, type>(p); }
  static type load_bf16(const uint16_t* p) { return fw::load_bf16<Arch, Tag, type>(p); }
  static void store_f16(uint16_t* p, type x) { fw::store_f16<Arch, Tag>(p, x); }
  static void store_bf16(uint16_t* p, type x) { fw::store_bf16<Arch, Tag>(p, x); }
  static type set1(float a) { return type(a); }
  static type zero() { return type(0.0f); }
  static type fma(type a, type b, type c) { return fused_multiply_add<Arch>(a, b, c); }
  static float fma1(float a, float b, float c) { return std::fma(a, b, c); }
  static type mul(type a, type b) { return a * b; }
  static type add(type a, type b) { return a + b; }
  static type sub(type a, type b) { return a - b; }
  static type max(type a, type b) { return xsimd::max(a, b); }
  static type min(type a, type b) { return xsimd::min(a, b); }
  static type exp(type a) { return exp_vec<Arch>(a); }
  static type flush_below(type x, float t) {  // x < t ? 0 : x, lane by lane (NaN stays)
    return xsimd::select(x < type(t), type(0.0f), x);
  }
  static float hsum(type a) { return xsimd::hadd(a); }  // 8.1 name of reduce_add
  static float tree_sum(type a) { return fw::tree_sum<Arch>(a); }
  using sum_type = typename LaneSums<Arch, type>::type;
  static constexpr int kSumLanes = LaneSums<Arch, type>::kLanes;
  static sum_type sum_zero() { return LaneSums<Arch, type>::zero(); }
  static sum_type sum_fma(type a, type b, sum_type acc) {
    return LaneSums<Arch, type>::fma(a, b, acc);
  }
  static float sum_tree(sum_type a) { return LaneSums<Arch, type>::tree(a); }
  static void transpose(const float* src, int64_t lds, float* dst, int64_t ldd) {
    transpose_block<Arch, Tag, type>(src, lds, dst, ldd);
  }
};

}  // namespace fw
