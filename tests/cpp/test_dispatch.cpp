// The CPU-feature decoder (table-driven over CPUID/XGETBV bits) and the
// backend override calls.
#include <gtest/gtest.h>

#include "dispatch/cpu_features.hpp"
#include "fastweights/fastweights.h"

namespace {

using fw::dispatch::CpuidBits;
using fw::dispatch::decode_x86;

constexpr unsigned kFma = 1u << 12, kOsxsave = 1u << 27, kAvx = 1u << 28, kF16c = 1u << 29;
constexpr unsigned kAvx2 = 1u << 5;
constexpr unsigned kAvx512 = (1u << 16) | (1u << 17) | (1u << 30) | (1u << 31);  // F DQ BW VL

CpuidBits bits(unsigned ecx1, unsigned ebx7, unsigned long long xcr0) {
  CpuidBits b;
  b.max_leaf_ge7 = true;
  b.leaf1_ecx = ecx1;
  b.leaf7_ebx = ebx7;
  b.xcr0 = xcr0;
  return b;
}

TEST(CpuFeatures, DecodesXcr0AndCpuidBits) {
  struct Row {
    CpuidBits b;
    bool avx2, avx512;
    const char* why;
  };
  const unsigned all1 = kFma | kOsxsave | kAvx | kF16c;
  const Row rows[] = {
      {bits(all1, kAvx2 | kAvx512, 0xE7), true, true, "everything"},
      {bits(all1, kAvx2, 0x7), true, false, "no AVX-512 in CPUID"},
      {bits(all1, kAvx2 | kAvx512, 0x7), true, false, "OS saves no zmm state"},
      {bits(all1, kAvx2 | kAvx512, 0x67), true, false, "XCR0 bit 7 (Hi16_ZMM) missing"},
      {bits(all1, kAvx2 | kAvx512, 0xA7), true, false, "XCR0 bit 6 missing"},
      {bits(all1, kAvx2 | kAvx512, 0x3), false, false, "OS saves no ymm state"},
      {bits(all1 & ~kFma, kAvx2 | kAvx512, 0xE7), false, false, "no FMA"},
      {bits(all1 & ~kF16c, kAvx2 | kAvx512, 0xE7), false, false, "no F16C"},
      {bits(all1 & ~kOsxsave, kAvx2 | kAvx512, 0xE7), false, false, "no OSXSAVE"},
      {bits(all1, kAvx512, 0xE7), false, false, "no AVX2"},
      {bits(all1, kAvx2 | (kAvx512 & ~(1u << 30)), 0xE7), true, false, "no AVX512BW"},
  };
  for (const Row& r : rows) {
    const auto f = decode_x86(r.b);
    EXPECT_EQ(f.avx2_fma, r.avx2) << r.why;
    EXPECT_EQ(f.avx512, r.avx512) << r.why;
  }
  CpuidBits old = bits(all1, kAvx2 | kAvx512, 0xE7);
  old.max_leaf_ge7 = false;
  EXPECT_FALSE(decode_x86(old).avx2_fma) << "CPUID leaf 7 absent";
}

// The recurrent state's rows are asked for ahead except on AMD's CPUs
// (docs/decisions.md, "The state's rows asked for"), whatever the ISA.
TEST(CpuFeatures, StateRowsAskedForExceptOnAmd) {
  CpuidBits b = bits(kFma | kOsxsave | kAvx | kF16c, kAvx2 | kAvx512, 0xE7);
  EXPECT_TRUE(decode_x86(b).ask_state_rows);
  b.amd = true;
  EXPECT_FALSE(decode_x86(b).ask_state_rows);
  b.leaf1_ecx = 0;  // no AVX: the scalar backend, the same choice
  EXPECT_FALSE(decode_x86(b).ask_state_rows);
}

TEST(Backends, ScalarAlwaysThere) {
  EXPECT_TRUE(fw_backend_is_compiled(FW_BACKEND_SCALAR));
  EXPECT_TRUE(fw_backend_is_supported(FW_BACKEND_SCALAR));
  EXPECT_EQ(fw_set_backend(FW_BACKEND_SCALAR), FW_OK);
  EXPECT_EQ(fw_get_backend(), FW_BACKEND_SCALAR);
  EXPECT_EQ(fw_set_backend(FW_BACKEND_AUTO), FW_OK);
  EXPECT_NE(fw_get_backend(), FW_BACKEND_AUTO);
}

TEST(Backends, UnavailableIsAnErrorNotACrash) {
  const fw_backend before = fw_get_backend();
  for (int b = 1; b <= 4; ++b) {
    const auto be = static_cast<fw_backend>(b);
    const fw_status s = fw_set_backend(be);
    EXPECT_EQ(s == FW_OK, fw_backend_is_supported(be) != 0) << fw_backend_name(be);
    fw_set_backend(before);
  }
  EXPECT_EQ(fw_set_backend(static_cast<fw_backend>(99)), FW_ERR_BACKEND_UNAVAILABLE);
  EXPECT_EQ(fw_get_backend(), before);
  EXPECT_STREQ(fw_backend_name(static_cast<fw_backend>(99)), "unknown");
}

TEST(Version, MatchesHeader) {
  int major = -1, minor = -1, patch = -1;
  fw_version(&major, &minor, &patch);
  EXPECT_EQ(major, FASTWEIGHTS_VERSION_MAJOR);
  EXPECT_EQ(minor, FASTWEIGHTS_VERSION_MINOR);
  EXPECT_EQ(patch, FASTWEIGHTS_VERSION_PATCH);
  EXPECT_STREQ(fw_version_string(), "1.0.0");
}

}  // namespace
