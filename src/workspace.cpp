#include "src/workspace.hpp"

#include <cstdlib>
#include <mutex>

namespace fw {
namespace {

// Blocks of at least kMinKept bytes go back to a short list instead of the
// system, and the next call that fits takes the smallest of them, as
// oneDNN's library scratchpad keeps its block. The backward's workspace
// (its chunk boundaries' states: 8-18 MB at T = 4096, K = V = 128) had
// come back as fresh pages every call, and faulting them in took 2-4 % of
// the backward at H = 16 and a quarter of it at H = 1 (Zen 4,
// docs/decisions.md). Smaller blocks are malloc's to recycle.
constexpr int64_t kMinKept = int64_t{1} << 20;
constexpr int kKept = 2;  // two callers' threads at once

struct KeptBlocks {
  std::mutex mu;
  Block b[kKept];
  // Emptied, not only freed: a call from another static object's destructor
  // after this one then finds no block (and the one it gives back stays).
  ~KeptBlocks() {
    const std::lock_guard<std::mutex> lock(mu);
    for (Block& x : b) {
      std::free(x.p);
      x = Block{};
    }
  }
};

KeptBlocks& kept() {
  static KeptBlocks k;
  return k;
}

}  // namespace

Block take_block(int64_t count) {
  if (count <= 0) count = 1;
  int64_t bytes = 0;
  if (__builtin_mul_overflow(count, static_cast<int64_t>(sizeof(float)), &bytes)) return {};
  if (__builtin_add_overflow(bytes, int64_t{63}, &bytes)) return {};
  bytes &= ~int64_t{63};  // aligned_alloc needs a multiple of the alignment
  if (bytes >= kMinKept) {
    KeptBlocks& k = kept();
    const std::lock_guard<std::mutex> lock(k.mu);
    Block* best = nullptr;
    for (Block& x : k.b)
      if (x.p && x.bytes >= bytes && (!best || x.bytes < best->bytes)) best = &x;
    if (best) {
      const Block got = *best;
      *best = Block{};
      return got;
    }
  }
  Block b;
  b.p = static_cast<float*>(std::aligned_alloc(64, static_cast<size_t>(bytes)));
  b.bytes = b.p ? bytes : 0;
  return b;
}

void give_block(Block b) {
  if (b.p && b.bytes >= kMinKept) {
    KeptBlocks& k = kept();
    const std::lock_guard<std::mutex> lock(k.mu);
    Block* smallest = &k.b[0];  // an empty slot, else the smallest block
    for (Block& x : k.b)
      if (!x.p || (smallest->p && x.bytes < smallest->bytes)) smallest = &x;
    if (!smallest->p || smallest->bytes < b.bytes) {
      std::free(smallest->p);
      *smallest = b;
      return;
    }
  }
  std::free(b.p);
}

}  // namespace fw
