// Scalar conversions between fp32 and the half types (bf16, fp16), bit for
// bit what the vector policies' conversions give (F16C and AVX-512F
// vcvtph2ps / vcvtps2ph, NEON fcvtl / fcvtn, and the integer rounding of
// bf16 in vec_xsimd.hpp): round to nearest even, overflow to infinity,
// subnormals kept, a NaN kept as a quiet NaN with its payload's top bits.
// They are the scalar backend's conversions and every backend's tails.
// Templates on a tag, as every kernel helper (chunk_ops.hpp says why).
#pragma once

#include <cstdint>
#include <cstring>

namespace fw {
namespace half_bits {

template <class Tag>
inline uint32_t bits(float f) {
  uint32_t u;
  std::memcpy(&u, &f, sizeof u);
  return u;
}

template <class Tag>
inline float from_bits(uint32_t u) {
  float f;
  std::memcpy(&f, &u, sizeof f);
  return f;
}

// bf16 is the top half of an fp32: widening is exact.
template <class Tag>
inline float bf16_to_f32(uint16_t h) {
  return from_bits<Tag>(uint32_t{h} << 16);
}

// Adding 0x7fff plus the kept part's lowest bit rounds the dropped half to
// nearest even; a carry may run into the exponent (up to infinity), as it
// should. A NaN would lose its payload to the shift, so it is made quiet.
template <class Tag>
inline uint16_t f32_to_bf16(float f) {
  const uint32_t u = bits<Tag>(f);
  if ((u & 0x7fffffffu) > 0x7f800000u) return static_cast<uint16_t>((u >> 16) | 0x40u);
  return static_cast<uint16_t>((u + 0x7fffu + ((u >> 16) & 1u)) >> 16);
}

template <class Tag>
inline float f16_to_f32(uint16_t h) {
  const uint32_t sign = uint32_t{h & 0x8000u} << 16;
  const uint32_t exp = (h >> 10) & 0x1fu, man = h & 0x3ffu;
  if (exp == 0x1f)  // infinity, or a NaN made quiet (as vcvtph2ps)
    return from_bits<Tag>(sign | 0x7f800000u | (man << 13) | (man ? 0x400000u : 0u));
  if (exp == 0) {  // zero or subnormal: man * 2^-24, exact in fp32
    const float m = static_cast<float>(man) * 0x1p-24f;
    return sign ? -m : m;
  }
  return from_bits<Tag>(sign | ((exp + 112) << 23) | (man << 13));
}

template <class Tag>
inline uint16_t f32_to_f16(float f) {
  const uint32_t u = bits<Tag>(f);
  const uint32_t sign = (u >> 16) & 0x8000u, a = u & 0x7fffffffu;
  if (a > 0x7f800000u) return static_cast<uint16_t>(sign | 0x7e00u | ((a >> 13) & 0x3ffu));
  if (a >= 0x477ff000u) return static_cast<uint16_t>(sign | 0x7c00u);  // >= 65520: infinity
  if (a < 0x38800000u) {
    // Below 2^-14, fp16's subnormal step 2^-24 is the ulp of 0.5 + |f| in
    // fp32: the add rounds to nearest even there, and the sum's low bits
    // count the steps (0x400, the smallest normal, after a carry).
    const float r = from_bits<Tag>(a) + 0.5f;
    return static_cast<uint16_t>(sign | (bits<Tag>(r) - 0x3f000000u));
  }
  // Rebias the exponent (127 - 15 = 112, times 2^23: + 0xc8000000 mod 2^32)
  // and round the 13 dropped bits to nearest even.
  const uint32_t r = a + 0xc8000fffu + ((a >> 13) & 1u);
  return static_cast<uint16_t>(sign | (r >> 13));
}

}  // namespace half_bits
}  // namespace fw
