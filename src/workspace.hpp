// Workspace for kernels: allocated by the API layer before any output is
// written, so a failure leaves outputs untouched (FW_ERR_OUT_OF_MEMORY).
#pragma once

#include <cstdint>

namespace fw {

// A 64-byte aligned block of at least the floats asked for; p is nullptr on
// failure or when count * 4 bytes overflows.
struct Block {
  float* p = nullptr;
  int64_t bytes = 0;
};

// take_block may hand out a block a former call gave back (give_block):
// large ones are kept for the next calls (workspace.cpp). Never zeroed.
Block take_block(int64_t count);
void give_block(Block b);

// RAII owner for one call's workspace.
class Workspace {
 public:
  explicit Workspace(int64_t count) : b_(take_block(count)) {}
  ~Workspace() { give_block(b_); }
  Workspace(const Workspace&) = delete;
  Workspace& operator=(const Workspace&) = delete;
  float* get() const { return b_.p; }

 private:
  Block b_;
};

}  // namespace fw
