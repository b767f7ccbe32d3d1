/* The one list of ISAs (backends). CMake builds kernels/isa/<name>.cpp (and
 * the benchmark's bench/machine/peak_<name>.cpp) with the flags of each row
 * whose architecture it targets; dispatch/ detects and selects them from it;
 * the tests run on each; scripts/check_isa_symbols.sh allows each row's
 * widest register only inside fw::<name>::; Python sees them through
 * fw_backend_name. Later rows are preferred when the CPU supports them.
 *
 * X(name, fw_backend value, CMAKE_SYSTEM_PROCESSOR family, compile flags,
 *   the CpuFeatures member that says the CPU and OS run it, widest x86
 *   vector register its code may use) */
#ifndef FASTWEIGHTS_KERNELS_ISA_ISA_LIST_H_
#define FASTWEIGHTS_KERNELS_ISA_ISA_LIST_H_

#include "fastweights/fastweights.h"

// clang-format off
#define FW_ISA_LIST(X) \
  X(scalar, FW_BACKEND_SCALAR, any, "", baseline, xmm) \
  X(avx2, FW_BACKEND_AVX2, x86_64, "-mavx2 -mfma -mf16c", avx2_fma, ymm) \
  X(avx512, FW_BACKEND_AVX512, x86_64, "-mavx512f -mavx512bw -mavx512dq -mavx512vl -mfma -mf16c -Wno-maybe-uninitialized", avx512, zmm) \
  X(neon, FW_BACKEND_NEON, aarch64, "", neon, none)
// clang-format on
/* (-Wno-maybe-uninitialized: GCC 12 warns inside its own avx512fintrin.h.) */

#endif /* FASTWEIGHTS_KERNELS_ISA_ISA_LIST_H_ */
