// Subnormal floats flushed to zero while a thread runs the library's work.
//
// A strongly decaying gate (log-decay -5 per token and below, as Qwen3-Next's
// initialisation gives) drives the chunked kernels' decay factors and
// decayed rows into the subnormal range, where each x86 float op takes a
// microcode assist: chunked gated delta rule, T = 512, HV = 32,
// K = V = 128, one thread, Cascade Lake: 41-67 ms at g = -0.1, 169-217 ms at
// g = -5, 515-612 ms at g = -11; flushed, 39-50 ms at each
// (docs/decisions.md). Values below 1.2e-38 sit far below every tolerance,
// and every backend and thread flushes alike, so determinism and backend
// agreement hold as before.
#pragma once

#include <cstdint>

#if defined(__x86_64__) || defined(__i386__)
#include <xmmintrin.h>
#endif

namespace fw {

// Sets flush-to-zero and denormals-are-zero on this thread for its scope,
// then restores the caller's floating-point control word.
class FlushDenormals {
 public:
  FlushDenormals() {
#if defined(__x86_64__) || defined(__i386__)
    saved_ = _mm_getcsr();
    _mm_setcsr(saved_ | kFlushToZero | kDenormalsAreZero);
#elif defined(__aarch64__)
    uint64_t fpcr = 0;
    __asm__ volatile("mrs %0, fpcr" : "=r"(fpcr));
    saved_ = fpcr;
    __asm__ volatile("msr fpcr, %0" : : "r"(fpcr | kFlushToZeroA64));
#endif
  }
  ~FlushDenormals() {
#if defined(__x86_64__) || defined(__i386__)
    _mm_setcsr(static_cast<unsigned>(saved_));
#elif defined(__aarch64__)
    __asm__ volatile("msr fpcr, %0" : : "r"(saved_));
#endif
  }
  FlushDenormals(const FlushDenormals&) = delete;
  FlushDenormals& operator=(const FlushDenormals&) = delete;

 private:
  static constexpr unsigned kFlushToZero = 0x8000;         // MXCSR.FTZ: subnormal results
  static constexpr unsigned kDenormalsAreZero = 0x0040;    // MXCSR.DAZ: subnormal inputs
  static constexpr uint64_t kFlushToZeroA64 = 1ull << 24;  // FPCR.FZ: both
  uint64_t saved_ = 0;
};

}  // namespace fw
