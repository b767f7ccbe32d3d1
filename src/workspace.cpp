#include "src/workspace.hpp"

#include <cstdlib>

namespace fw {

float* alloc_floats(int64_t count) {
  if (count <= 0) count = 1;
  int64_t bytes = 0;
  if (__builtin_mul_overflow(count, static_cast<int64_t>(sizeof(float)), &bytes)) return nullptr;
  if (__builtin_add_overflow(bytes, int64_t{63}, &bytes)) return nullptr;
  bytes &= ~int64_t{63};  // aligned_alloc needs a multiple of the alignment
  return static_cast<float*>(std::aligned_alloc(64, static_cast<size_t>(bytes)));
}

void free_floats(float* p) { std::free(p); }

}  // namespace fw
