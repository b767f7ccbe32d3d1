// bf16 and fp16 operands: q, k, v, g, beta and o each in its own dtype,
// states fp32. For inputs rounded to their half types, a scan must give
//  - the states of the same scan over those values in fp32, bit for bit
//    (inputs are widened exactly, and all arithmetic is fp32);
//  - outputs that are that scan's fp32 outputs rounded once to o's type
//    (nearest even, overflow to infinity, NaN kept), checked against the
//    test's own rounding (half.hpp);
//  - and so outputs within o's rounding plus the fp32 tolerance of the
//    float64 reference, and states within the fp32 tolerance.
// On every backend, op and form; mixed cases as sglang passes them (bf16
// q, k, v with fp32 g and beta); non-finite inputs; fp16 overflow.
#include <gtest/gtest.h>

#include <cmath>
#include <functional>
#include <limits>
#include <string>
#include <vector>

#include "backends.hpp"
#include "half.hpp"
#include "problem.hpp"

namespace fwtest {
namespace {

constexpr double kTol = 1e-5;  // test_scan_accuracy.cpp's

struct Dtypes {
  const char* name;
  int32_t q, k, v, g, beta, o;
};

std::vector<Dtypes> dtype_cases(int32_t h) {
  const int32_t f = FW_DTYPE_F32;
  return {{"all_half", h, h, h, h, h, h},
          {"sglang_qkv_half_g_beta_f32", h, h, h, f, f, h},
          {"inputs_half_o_f32", h, h, h, h, h, f},
          {"o_half_only", f, f, f, f, f, h}};
}

const char* dtype_name(int32_t d) {
  return d == FW_DTYPE_BF16 ? "bf16" : d == FW_DTYPE_F16 ? "f16" : "f32";
}

// One scan twice on the same (rounded) values: fp32 buffers, then the typed
// ones; prepare changes the fp32 inputs before they are rounded.
void check_against_f32(const Shape& s, const Dtypes& d, uint32_t seed,
                       const std::function<void(Problem&)>& prepare = nullptr) {
  Problem a(s, seed), b(s, seed);
  if (prepare) prepare(a);
  TypedBuffer q = round_into(&a.q, d.q), k = round_into(&a.k, d.k), v = round_into(&a.v, d.v);
  TypedBuffer g = round_into(&a.g, d.g), beta = round_into(&a.beta, d.beta);
  auto point = [](fw_tensor* t, TypedBuffer* x) {
    if (!t->data) return;
    t->data = x->data();
    t->dtype = x->dtype;
  };
  point(&b.args.q, &q);
  point(&b.args.k, &k);
  point(&b.args.v, &v);
  point(&b.args.g, &g);
  point(&b.args.beta, &beta);
  TypedBuffer o;
  o.dtype = d.o;
  if (d.o == FW_DTYPE_F32)
    o.f32.assign(a.o.size(), Problem::kSentinel);
  else
    o.half.assign(a.o.size(), 0xdead);
  point(&b.args.o, &o);

  ASSERT_EQ(a.run(), FW_OK);
  ASSERT_EQ(b.run(), FW_OK);
  EXPECT_TRUE(same_bits(a.state_out, b.state_out)) << "states differ from the fp32 scan's";
  int64_t wrong = 0, first = -1;
  for (size_t i = 0; i < a.o.size(); ++i)
    if (!is_rounding_of(o.at(i), a.o[i], d.o) && wrong++ == 0) first = int64_t(i);
  EXPECT_EQ(wrong, 0) << "outputs not the fp32 outputs rounded once; first at " << first << ": "
                      << o.at(first) << " for " << a.o[first];
  // The non-finite and overflow cases have no finite reference; the
  // reference reads states K-first (V-first is checked against fp32 above).
  if (prepare || (s.flags & FW_FLAG_STATE_V_FIRST)) return;
  const RefResult ref = a.reference();
  std::vector<float> got(o.size());
  for (size_t i = 0; i < got.size(); ++i) got[i] = static_cast<float>(o.at(i));
  EXPECT_LT(rel_max_error(ref.o, got), unit_roundoff(d.o) + kTol) << "output";
  EXPECT_LT(rel_max_error(ref.state, b.state_out), kTol) << "final state";
}

Shape half_shape(fw_op op, int32_t mode, bool v_first) {
  // K = 40, V = 24: whole vectors and tails on every ISA; K = V = 32 for
  // V-first states, whose token loops need K in whole vectors.
  Shape s = v_first ? make_shape(op, mode, 2, 37, 2, 4, 32, 32, true)
                    : make_shape(op, mode, 2, 37, 2, 4, 40, 24, true);
  s.chunk = 16;
  if (v_first) s.flags |= FW_FLAG_STATE_V_FIRST;
  if (is_delta(op)) s.flags |= FW_FLAG_QK_L2NORM;
  return s;
}

class HalfOperands : public ::testing::TestWithParam<fw_backend> {};

TEST_P(HalfOperands, MatchTheFp32ScanRoundedOnce) {
  FW_USE_BACKEND_OR_SKIP(GetParam());
  for (int32_t h : {FW_DTYPE_BF16, FW_DTYPE_F16})
    for (const Dtypes& d : dtype_cases(h))
      for (fw_op op : all_ops())
        for (int32_t mode : {FW_MODE_RECURRENT, FW_MODE_CHUNKED})
          for (bool v_first : {false, true}) {
            SCOPED_TRACE(std::string(dtype_name(h)) + " " + d.name + " " + op_name(op) +
                         (mode == FW_MODE_RECURRENT ? " recurrent" : " chunked") +
                         (v_first ? " v_first" : ""));
            check_against_f32(half_shape(op, mode, v_first), d, 7);
          }
}

// NaN and infinity in a half input reach the same outputs and states as in
// fp32; fp16 outputs past 65504 round to infinity.
TEST_P(HalfOperands, NonFiniteAndOverflowAsFp32) {
  FW_USE_BACKEND_OR_SKIP(GetParam());
  const float inf = std::numeric_limits<float>::infinity();
  for (int32_t h : {FW_DTYPE_BF16, FW_DTYPE_F16})
    for (fw_op op : all_ops())
      for (int32_t mode : {FW_MODE_RECURRENT, FW_MODE_CHUNKED}) {
        SCOPED_TRACE(std::string(dtype_name(h)) + " " + op_name(op) +
                     (mode == FW_MODE_RECURRENT ? " recurrent" : " chunked"));
        const Dtypes d = dtype_cases(h)[0];
        const Shape s = half_shape(op, mode, false);
        check_against_f32(s, d, 3, [&](Problem& p) {
          p.q[5 * s.K + 3] = std::numeric_limits<float>::quiet_NaN();  // token 2, head 1
          p.v[20 * s.HV * s.V + 7] = -inf;
        });
        check_against_f32(s, d, 4, [](Problem& p) {
          for (float& x : p.v) x *= 30000.0f;  // sums past fp16's 65504
        });
      }
}

INSTANTIATE_TEST_SUITE_P(Backends, HalfOperands, ::testing::ValuesIn(all_backends()),
                         [](const ::testing::TestParamInfo<fw_backend>& i) {
                           return std::string(fw_backend_name(i.param));
                         });

// The test's own conversions agree with the formats' definitions on their
// edges (so that the checks above check the library, not themselves).
TEST(HalfFormats, RoundingEdges) {
  EXPECT_EQ(round_to(65504.0, FW_DTYPE_F16), 65504.0);
  EXPECT_EQ(round_to(65519.0, FW_DTYPE_F16), 65504.0);
  EXPECT_TRUE(std::isinf(round_to(65520.0, FW_DTYPE_F16)));
  EXPECT_EQ(round_to(1.0 + std::ldexp(1.0, -11), FW_DTYPE_F16), 1.0);  // tie to even
  EXPECT_EQ(round_to(1.0 + 3 * std::ldexp(1.0, -11), FW_DTYPE_F16), 1.0 + std::ldexp(1.0, -9));
  EXPECT_EQ(round_to(std::ldexp(1.0, -25), FW_DTYPE_F16), 0.0);  // half the least subnormal
  EXPECT_EQ(round_to(std::ldexp(3.0, -26), FW_DTYPE_F16), std::ldexp(1.0, -24));
  EXPECT_EQ(round_to(1.0 + std::ldexp(1.0, -8), FW_DTYPE_BF16), 1.0);
  EXPECT_EQ(round_to(1.0 + 3 * std::ldexp(1.0, -8), FW_DTYPE_BF16), 1.0 + std::ldexp(1.0, -6));
  for (int32_t d : {FW_DTYPE_F16, FW_DTYPE_BF16})
    for (double x : {1.0, -2.5, 65504.0, std::ldexp(1.0, -24), std::ldexp(5.0, -20)}) {
      const double r = round_to(x, d);
      EXPECT_EQ(decode(encode(r, d), d), r) << x;
    }
}

}  // namespace
}  // namespace fwtest
