// Long-sequence stability and non-finite inputs.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <vector>

#if defined(__x86_64__)
#include <xmmintrin.h>
#endif

#include "backends.hpp"
#include "backward_problem.hpp"
#include "problem.hpp"

namespace fwtest {
namespace {

Shape long_shape(fw_op op, int32_t mode) { return make_shape(op, mode, 1, 100000, 1, 1, 16, 16); }

bool all_finite(const std::vector<float>& x) {
  for (float e : x)
    if (!std::isfinite(e)) return false;
  return true;
}

using Param = std::tuple<fw_backend, int32_t>;
class LongSequence : public ::testing::TestWithParam<Param> {};

// Delta rules over T = 100000 with unit keys and beta in (0, 1): the state is
// a contraction plus a bounded write, so fp32 must track the double
// reference closely all the way (the README's bound: 1e-3 relative).
TEST_P(LongSequence, DeltaRulesStayFiniteAndAccurate) {
  FW_USE_BACKEND_OR_SKIP(std::get<0>(GetParam()));
  for (fw_op op : {FW_OP_DELTA_RULE, FW_OP_GATED_DELTA_RULE}) {
    Problem p(long_shape(op, std::get<1>(GetParam())));
    ASSERT_EQ(p.run(), FW_OK);
    ASSERT_TRUE(all_finite(p.o)) << op_name(op);
    const RefResult ref = p.reference();
    EXPECT_LT(rel_max_error(ref.o, p.o), 1e-3) << op_name(op);
    EXPECT_LT(rel_max_error(ref.state, p.state_out), 1e-3) << op_name(op);
  }
}

// Linear attention without normalisation or decay: S is a sum of 100000
// rank-one terms, so its entries grow like sqrt(T) and fp32 accumulation
// error like T * eps_f32 in the worst case. README documents the bound
// checked here: 1e-4 relative to the largest output (measured: see README).
TEST_P(LongSequence, LinearAttentionWithinDocumentedBound) {
  FW_USE_BACKEND_OR_SKIP(std::get<0>(GetParam()));
  Problem p(long_shape(FW_OP_LINEAR_ATTN, std::get<1>(GetParam())));
  ASSERT_EQ(p.run(), FW_OK);
  ASSERT_TRUE(all_finite(p.o));
  const RefResult ref = p.reference();
  const double err = rel_max_error(ref.o, p.o);
  RecordProperty("relative_error", std::to_string(err));
  EXPECT_LT(err, 1e-4);
}

INSTANTIATE_TEST_SUITE_P(All, LongSequence,
                         ::testing::Combine(::testing::ValuesIn(all_backends()),
                                            ::testing::Values(FW_MODE_CHUNKED, FW_MODE_RECURRENT)),
                         [](const ::testing::TestParamInfo<Param>& i) {
                           return std::string(fw_backend_name(std::get<0>(i.param))) +
                                  (std::get<1>(i.param) == FW_MODE_CHUNKED ? "_chunked"
                                                                           : "_recurrent");
                         });

// A NaN or Inf in one input (v; or a NaN in g, scalar or per key channel)
// reaches only the outputs that depend on it: the same head of the same
// sequence, from that token on. Nothing crashes.
// V = 20 runs vector panels and scalar tails on every backend.
class NonFinite : public ::testing::TestWithParam<fw_backend> {};

TEST_P(NonFinite, PropagatesOnlyToAffectedOutputs) {
  FW_USE_BACKEND_OR_SKIP(GetParam());
  const float bad_values[] = {std::numeric_limits<float>::quiet_NaN(),
                              std::numeric_limits<float>::infinity()};
  for (fw_op op : all_ops())
    for (int32_t mode : {FW_MODE_CHUNKED, FW_MODE_RECURRENT})
      for (float bad : bad_values)
        for (bool in_gate : {false, true}) {
          if (in_gate && (!is_gated(op) || bad > 0)) continue;  // g = +Inf overflows by design
          const Shape s = make_shape(op, mode, 2, 150, 2, 2, 8, 20);
          Problem p(s);
          const int64_t b = 1, t_bad = 70, h = 1;  // v (or g) of batch 1, head 1, token 70
          if (!in_gate)
            p.v[((b * s.T + t_bad) * s.HV + h) * s.V + 3] = bad;
          else if (is_channel_gated(op))
            p.g[((b * s.T + t_bad) * s.HV + h) * s.K + 3] = bad;  // key channel 3
          else
            p.g[(b * s.T + t_bad) * s.HV + h] = bad;
          ASSERT_EQ(p.run(), FW_OK);
          for (int64_t bb = 0; bb < s.B; ++bb)
            for (int64_t t = 0; t < s.T; ++t)
              for (int64_t hh = 0; hh < s.HV; ++hh) {
                const bool affected = bb == b && hh == h && t >= t_bad;
                if (affected) continue;  // may or may not be finite (0 * Inf, ...)
                for (int64_t j = 0; j < s.V; ++j)
                  ASSERT_TRUE(std::isfinite(p.o[((bb * s.T + t) * s.HV + hh) * s.V + j]))
                      << op_name(op) << " mode " << mode << (in_gate ? " g" : " v") << " b" << bb
                      << " t" << t << " h" << hh;
              }
          bool any_bad = false;
          for (int64_t j = 0; j < s.V; ++j)
            any_bad |= !std::isfinite(p.o[((b * s.T + t_bad) * s.HV + h) * s.V + j]);
          EXPECT_TRUE(any_bad) << op_name(op) << (in_gate ? " g" : " v")
                               << ": the bad token's own output is finite";
        }
}

INSTANTIATE_TEST_SUITE_P(All, NonFinite, ::testing::ValuesIn(all_backends()),
                         [](const ::testing::TestParamInfo<fw_backend>& i) {
                           return std::string(fw_backend_name(i.param));
                         });

#if defined(__x86_64__)
// The scans flush subnormals on their own threads (src/denormals.hpp) and
// give the caller's thread its floating-point control back: here a caller
// that keeps subnormals and masks all exceptions (the x86 default), and one
// that asked for round-toward-zero, both forward and backward, with gates
// strong enough (log-decay down to -20 per token) to make subnormals. The
// control bits are compared; the low six are sticky exception flags, which
// any float arithmetic on the thread may set.
TEST(Numerics, CallersFloatingPointControlIsRestored) {
  constexpr unsigned kControl = ~0x3Fu;
  for (unsigned csr : {0x1F80u, 0x7F80u}) {
    _mm_setcsr(csr);
    Problem forward(make_shape(FW_OP_KDA, FW_MODE_CHUNKED, 1, 70, 2, 2, 16, 16, true));
    for (float& e : forward.g) e *= 20.0f;
    EXPECT_EQ(forward.run(), FW_OK);
    EXPECT_EQ(_mm_getcsr() & kControl, csr);
    BackwardOptions o;
    o.gate_lo = -20.0;
    BackwardProblem backward(FW_OP_KDA, 1, 70, 2, 2, 16, 16, o);
    EXPECT_EQ(backward.run(), FW_OK);
    EXPECT_EQ(_mm_getcsr() & kControl, csr);
  }
  _mm_setcsr(0x1F80u);
}
#endif

}  // namespace
}  // namespace fwtest
