// Workspace for kernels: allocated by the API layer before any output is
// written, so a failure leaves outputs untouched (FW_ERR_OUT_OF_MEMORY).
#pragma once

#include <cstdint>

namespace fw {

// 64-byte aligned; nullptr on failure or when count * 4 bytes overflows.
float* alloc_floats(int64_t count);
void free_floats(float* p);

// RAII owner for one call's workspace.
class Workspace {
 public:
  explicit Workspace(int64_t count) : p_(alloc_floats(count)) {}
  ~Workspace() { free_floats(p_); }
  Workspace(const Workspace&) = delete;
  Workspace& operator=(const Workspace&) = delete;
  float* get() const { return p_; }

 private:
  float* p_;
};

}  // namespace fw
