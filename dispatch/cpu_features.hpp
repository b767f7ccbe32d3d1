// What the CPU and OS let us execute. Compiled at the baseline ISA.
#pragma once

namespace fw {
namespace dispatch {

struct CpuFeatures {
  bool baseline = true;   // what every build targets (the scalar backend)
  bool avx2_fma = false;  // AVX2 + FMA + F16C + OS saves ymm (XCR0 bits 1-2)
  bool avx512 = false;    // AVX-512 F/BW/DQ/VL + OS saves zmm (XCR0 bits 5-7)
  bool neon = false;      // baseline on aarch64
  // Whether asking for the recurrent state's rows ahead pays (ScanTask::
  // ask_state_rows): all but AMD's x86 CPUs, whose own prefetchers did
  // better alone (docs/decisions.md, "The state's rows asked for").
  bool ask_state_rows = true;
  // Whether the recurrent delta rules sweep a K-first state in whole rows
  // (ScanTask::row_sweeps: AMD's) or in column blocks (the rest; docs/
  // decisions.md, "Row sweeps"). Both give the same bits;
  // FASTWEIGHTS_STATE_SWEEPS=rows|blocks overrides it (the tests run both).
  bool row_sweeps = false;
};

// Raw register values the decision is made from, so tests can feed tables.
struct CpuidBits {
  bool max_leaf_ge7 = false;
  unsigned leaf1_ecx = 0;  // FMA bit 12, OSXSAVE bit 27, AVX bit 28
  unsigned leaf7_ebx = 0;  // AVX2 bit 5, AVX512F 16, DQ 17, BW 30, VL 31
  unsigned long long xcr0 = 0;
  bool amd = false;  // leaf 0's vendor string: "AuthenticAMD"
};

CpuFeatures decode_x86(const CpuidBits& bits);
// Detected once (thread-safe), cached.
const CpuFeatures& cpu_features();

}  // namespace dispatch
}  // namespace fw
