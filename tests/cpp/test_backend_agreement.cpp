// Every backend against the scalar one on the same inputs (tails in K, V and
// T), beside each one's own comparison with the double reference.
#include <gtest/gtest.h>

#include <cstdlib>
#include <vector>

#include "backends.hpp"
#include "problem.hpp"

namespace fwtest {
namespace {

class BackendAgreement : public ::testing::TestWithParam<fw_backend> {};

TEST_P(BackendAgreement, MatchesScalarBackend) {
  const fw_backend backend = GetParam();
  for (fw_op op : all_ops())
    for (int32_t mode : {FW_MODE_CHUNKED, FW_MODE_RECURRENT}) {
      Shape s = make_shape(op, mode, 2, 77, 2, 4, 37, 45, true);
      s.chunk = 32;
      s.flags = op == FW_OP_DELTA_RULE ? FW_FLAG_QK_L2NORM : 0;
      Problem ref(s);
      {
        BackendScope scalar(FW_BACKEND_SCALAR);
        ASSERT_EQ(ref.run(), FW_OK);
      }
      Problem p(s);
      FW_USE_BACKEND_OR_SKIP(backend);
      ASSERT_EQ(p.run(), FW_OK);
      EXPECT_LT(rel_max_error(ref.o, p.o), 1e-5) << op_name(op) << " mode " << mode;
      EXPECT_LT(rel_max_error(ref.state_out, p.state_out), 1e-5) << op_name(op) << " mode " << mode;
    }
}

INSTANTIATE_TEST_SUITE_P(All, BackendAgreement, ::testing::ValuesIn(all_backends()),
                         [](const ::testing::TestParamInfo<fw_backend>& i) {
                           return std::string(fw_backend_name(i.param));
                         });

// The emulated CI runs (qemu: aarch64, x86-64 without AVX) name the backend
// the library must pick by itself there.
TEST(BackendSelection, DefaultIsTheExpectedOne) {
  const char* want = std::getenv("FW_EXPECT_BACKEND");
  if (!want) GTEST_SKIP() << "FW_EXPECT_BACKEND not set";
  ASSERT_EQ(fw_set_backend(FW_BACKEND_AUTO), FW_OK);
  EXPECT_STREQ(fw_backend_name(fw_get_backend()), want);
}

}  // namespace
}  // namespace fwtest
