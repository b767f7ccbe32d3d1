// bf16 and fp16 on the test side, written independently of the library's
// conversions (kernels/common/half_bits.hpp): decoding by the formats'
// definitions, rounding in double by frexp and nearbyint (round to nearest
// even in the default rounding mode), so that a wrong library conversion
// cannot agree with the test's by construction.
#pragma once

#include <cfenv>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <vector>

#include "fastweights/fastweights.h"

namespace fwtest {

// Precision bits (with the implicit one), smallest normal exponent, largest finite value.
struct HalfFormat {
  int digits, min_exp;
  double max;
};

inline HalfFormat half_format(int32_t dtype) {
  if (dtype == FW_DTYPE_BF16) return {8, -126, std::ldexp(255.0, 120)};  // (2 - 2^-7) 2^127
  return {11, -14, 65504.0};
}

// Unit roundoff of a type: half its relative spacing.
inline double unit_roundoff(int32_t dtype) {
  return dtype == FW_DTYPE_F32 ? 0.0 : std::ldexp(1.0, -half_format(dtype).digits);
}

// x rounded to the nearest value of dtype, ties to even; infinity past the
// largest finite value's rounding range; NaN stays.
inline double round_to(double x, int32_t dtype) {
  if (dtype == FW_DTYPE_F32) return static_cast<float>(x);
  if (!std::isfinite(x) || x == 0) return x;
  const HalfFormat f = half_format(dtype);
  int e = 0;
  std::frexp(x, &e);  // |x| in [2^(e-1), 2^e)
  const int exponent = std::max(e - 1, f.min_exp);
  const double ulp = std::ldexp(1.0, exponent - (f.digits - 1));
  const double r = std::nearbyint(x / ulp) * ulp;
  if (std::fabs(r) > f.max) return std::copysign(std::numeric_limits<double>::infinity(), x);
  return r;
}

// Bochs 2.7, which runs the AVX-512 emulated suite, rounds vcvtps2ph's
// ties away from zero where the hardware rounds them to even (checked
// natively); its guest sets FW_TEST_F16_TIES_AWAY (tests/emulated).
inline bool f16_ties_away() {
  static const bool on = std::getenv("FW_TEST_F16_TIES_AWAY") != nullptr;
  return on;
}

// got is x rounded once to dtype (NaN for NaN); under FW_TEST_F16_TIES_AWAY
// an fp16 tie may have gone to its neighbour away from zero instead.
inline bool is_rounding_of(double got, double x, int32_t dtype) {
  const double want = round_to(x, dtype);
  if (got == want || (std::isnan(got) && std::isnan(want))) return true;
  if (dtype != FW_DTYPE_F16 || !f16_ties_away() || !std::isfinite(x)) return false;
  const double other = 2 * x - want;  // the other neighbour, when x is a tie
  return got == other && round_to(other, dtype) == other && std::fabs(other) > std::fabs(want);
}

inline double decode(uint16_t h, int32_t dtype) {
  if (dtype == FW_DTYPE_BF16) {
    const uint32_t u = uint32_t{h} << 16;
    float f;
    std::memcpy(&f, &u, sizeof f);
    return f;
  }
  const int sign = h >> 15, exp = (h >> 10) & 0x1f, man = h & 0x3ff;
  double m;
  if (exp == 0x1f)
    m = man ? std::numeric_limits<double>::quiet_NaN() : std::numeric_limits<double>::infinity();
  else if (exp == 0)
    m = std::ldexp(man, -24);
  else
    m = std::ldexp(1024 + man, exp - 25);
  return sign ? -m : m;
}

// The bits of x, a value of dtype (round_to's result), NaN or infinity.
inline uint16_t encode(double x, int32_t dtype) {
  if (dtype == FW_DTYPE_BF16) {
    const float f = static_cast<float>(x);  // exact: bf16 values are fp32 values
    uint32_t u;
    std::memcpy(&u, &f, sizeof u);
    return static_cast<uint16_t>(u >> 16);
  }
  const uint16_t sign = std::signbit(x) ? 0x8000 : 0;
  const double a = std::fabs(x);
  if (std::isnan(x)) return 0x7e00;
  if (std::isinf(x)) return sign | 0x7c00;
  if (a < std::ldexp(1.0, -14)) return sign | static_cast<uint16_t>(a * std::ldexp(1.0, 24));
  int e = 0;
  const double m = std::frexp(a, &e);  // a = m 2^e, m in [0.5, 1)
  return sign | static_cast<uint16_t>(((e - 1 + 15) << 10) | static_cast<int>((2 * m - 1) * 1024));
}

// A buffer of one dtype, filled from floats that it holds exactly.
struct TypedBuffer {
  int32_t dtype = FW_DTYPE_F32;
  std::vector<float> f32;
  std::vector<uint16_t> half;

  void* data() { return dtype == FW_DTYPE_F32 ? static_cast<void*>(f32.data()) : half.data(); }
  size_t size() const { return dtype == FW_DTYPE_F32 ? f32.size() : half.size(); }
  double at(size_t i) const { return dtype == FW_DTYPE_F32 ? f32[i] : decode(half[i], dtype); }
  std::vector<double> values() const {
    std::vector<double> v(size());
    for (size_t i = 0; i < v.size(); ++i) v[i] = at(i);
    return v;
  }
};

// x rounded in place to dtype's values (still floats); the typed copy.
inline TypedBuffer round_into(std::vector<float>* x, int32_t dtype) {
  TypedBuffer b;
  b.dtype = dtype;
  for (float& e : *x) e = static_cast<float>(round_to(e, dtype));
  if (dtype == FW_DTYPE_F32) {
    b.f32 = *x;
  } else {
    b.half.resize(x->size());
    for (size_t i = 0; i < x->size(); ++i) b.half[i] = encode((*x)[i], dtype);
  }
  return b;
}

}  // namespace fwtest
