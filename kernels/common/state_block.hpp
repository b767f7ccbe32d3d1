// A block of state columns [c0, c0 + w) for the recurrent kernels: K rows
// of w floats with row stride ld. For a K-first state it is the state's own
// rows; for a V-first one (vLLM's and sglang's pools) the block's w rows of
// K floats are transposed into scratch, updated there while they sit in L1,
// and transposed back. Transposition moves floats exactly, so either layout
// gets the same bits from the same kernel arithmetic. Decode at B = 64,
// HV = 32, K = V = 128 (AVX-512, one thread): transposing each whole state
// through an L2 copy instead took 2.1x the K-first time (docs/decisions.md).
#pragma once

#include <cstdint>

#include "kernels/common/chunk_ops.hpp"
#include "kernels/kernel_table.hpp"

namespace fw {
namespace state_block {

struct Block {
  float* S;
  int64_t ld;
};

// Columns [c0, c0 + w) of t's state; scratch holds K * w floats.
template <class Vec>
inline Block acquire(const ScanTask& t, int64_t c0, int64_t w, float* scratch) {
  if (!t.S_v_first) return {t.S + c0, t.S_ld};
  chunk::transpose<Vec>(w, t.K, t.S + c0 * t.S_ld, t.S_ld, scratch, w);
  return {scratch, w};
}

// Writes an acquired block back (V-first only: K-first was updated in place).
template <class Vec>
inline void release(const ScanTask& t, int64_t c0, int64_t w, const Block& b) {
  if (t.S_v_first) chunk::transpose<Vec>(t.K, w, b.S, b.ld, t.S + c0 * t.S_ld, t.S_ld);
}

}  // namespace state_block
}  // namespace fw
