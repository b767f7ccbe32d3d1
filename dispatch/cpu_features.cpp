// CPUID + XGETBV decoding (docs/design.md, "Dispatch"; as Highway's
// ReadXCR0). A feature counts only if the OS also saves its registers:
// AVX2 needs XCR0 bits 1-2 (SSE, AVX state); AVX-512 needs bits 5-7 too
// (opmask, ZMM_Hi256, Hi16_ZMM). xsimd 8's own check omits bit 7, so we do
// not use it.
#include "dispatch/cpu_features.hpp"

#include <cstdlib>
#include <cstring>

#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>
#endif

namespace fw {
namespace dispatch {

CpuFeatures decode_x86(const CpuidBits& b) {
  CpuFeatures f;
  f.ask_state_rows = !b.amd;
  f.row_sweeps = b.amd;
  const bool osxsave = (b.leaf1_ecx >> 27) & 1u;
  const bool avx = (b.leaf1_ecx >> 28) & 1u;
  const bool fma = (b.leaf1_ecx >> 12) & 1u;
  // F16C (half <-> fp32 conversions, fp16 operands) is a bit of its own;
  // every AVX2 CPU we know has it, but the backend compiled with -mf16c
  // must not run where it is absent.
  const bool f16c = (b.leaf1_ecx >> 29) & 1u;
  if (!osxsave || !avx || !b.max_leaf_ge7) return f;
  const bool ymm_state = (b.xcr0 & 0x6u) == 0x6u;
  const bool zmm_state = (b.xcr0 & 0xE6u) == 0xE6u;
  const bool avx2 = (b.leaf7_ebx >> 5) & 1u;
  f.avx2_fma = ymm_state && avx2 && fma && f16c;
  const unsigned avx512_bits = (1u << 16) | (1u << 17) | (1u << 30) | (1u << 31);
  f.avx512 = f.avx2_fma && zmm_state && (b.leaf7_ebx & avx512_bits) == avx512_bits;
  return f;
}

namespace {

CpuFeatures detect() {
  CpuFeatures f;
#if defined(__x86_64__) || defined(__i386__)
  CpuidBits b;
  unsigned a = 0, bx = 0, c = 0, d = 0;
  if (!__get_cpuid(0, &a, &bx, &c, &d)) return f;
  b.max_leaf_ge7 = a >= 7;
  b.amd = bx == 0x68747541u && d == 0x69746e65u && c == 0x444d4163u;  // "Auth" "enti" "cAMD"
  __get_cpuid(1, &a, &bx, &c, &d);
  b.leaf1_ecx = c;
  if (b.max_leaf_ge7) {
    __cpuid_count(7, 0, a, bx, c, d);
    b.leaf7_ebx = bx;
  }
  if ((b.leaf1_ecx >> 27) & 1u) {  // XGETBV faults unless OSXSAVE is set
    unsigned lo = 0, hi = 0;
    __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
    b.xcr0 = (static_cast<unsigned long long>(hi) << 32) | lo;
  }
  f = decode_x86(b);
#elif defined(__aarch64__)
  f.neon = true;  // Advanced SIMD is mandatory in AArch64
#endif
  // Read once, at the first call; the library never calls setenv.
  const char* sweeps = std::getenv("FASTWEIGHTS_STATE_SWEEPS");  // NOLINT(concurrency-mt-unsafe)
  if (sweeps && std::strcmp(sweeps, "rows") == 0) f.row_sweeps = true;
  if (sweeps && std::strcmp(sweeps, "blocks") == 0) f.row_sweeps = false;
  return f;
}

}  // namespace

const CpuFeatures& cpu_features() {
  static const CpuFeatures features = detect();  // C++11 thread-safe init
  return features;
}

}  // namespace dispatch
}  // namespace fw
