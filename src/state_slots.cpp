#include "src/state_slots.hpp"

#include <algorithm>

#include "src/workspace.hpp"

namespace fw {
namespace {

// True when two non-negative indices are equal; buf holds that many.
bool has_duplicate(const int32_t* indices, int64_t n, int32_t* buf) {
  int64_t m = 0;
  for (int64_t i = 0; i < n; ++i)
    if (indices[i] >= 0) buf[m++] = indices[i];
  std::sort(buf, buf + m);
  return std::adjacent_find(buf, buf + m) != buf + m;
}

}  // namespace

fw_status check_state_indices(const int32_t* indices, int64_t n, int64_t slots) {
  int64_t used = 0;
  for (int64_t i = 0; i < n; ++i) {
    if (indices[i] >= slots) return FW_ERR_INVALID_STATE_INDEX;
    if (indices[i] >= 0) ++used;
  }
  if (used < 2) return FW_OK;
  bool duplicate = false;
  if (used <= kSlotsOnStack) {
    int32_t buf[kSlotsOnStack];
    duplicate = has_duplicate(indices, n, buf);
  } else {
    Workspace heap(used);  // floats and int32 are the same size
    if (!heap.get()) return FW_ERR_OUT_OF_MEMORY;
    duplicate = has_duplicate(indices, n, reinterpret_cast<int32_t*>(heap.get()));
  }
  return duplicate ? FW_ERR_INVALID_STATE_INDEX : FW_OK;
}

}  // namespace fw
