#include "src/struct_args.hpp"

#include <cstdint>
#include <cstring>

namespace fw {

// A newer field could hide in trailing padding of ours and be ignored:
// both structs end on their last field.
static_assert(offsetof(fw_scan_args, grad_initial_state) + sizeof(fw_tensor) ==
                  sizeof(fw_scan_args),
              "fw_scan_args must end on its last field");
static_assert(offsetof(fw_feature_map_args, dx) + sizeof(fw_tensor) == sizeof(fw_feature_map_args),
              "fw_feature_map_args must end on its last field");

fw_status read_struct_bytes(const void* caller, size_t ours_size, void* ours) {
  if (!caller) return FW_ERR_NULL_POINTER;
  size_t size = 0;
  std::memcpy(&size, caller, sizeof size);
  if (size < sizeof(size_t) || size > kMaxStructSize) return FW_ERR_INVALID_STRUCT_SIZE;
  const auto* bytes = static_cast<const unsigned char*>(caller);
  for (size_t i = ours_size; i < size; ++i)
    if (bytes[i] != 0) return FW_ERR_UNSUPPORTED;
  std::memset(ours, 0, ours_size);
  std::memcpy(ours, caller, size < ours_size ? size : ours_size);
  return FW_OK;
}

}  // namespace fw
