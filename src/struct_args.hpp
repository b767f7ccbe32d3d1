// Growable argument structs (fw_scan_args, fw_feature_map_args): the caller
// says in struct_size how many bytes it filled, and the library reads its
// own struct from them (docs/design.md, "Arguments that grow").
#pragma once

#include <cstddef>

#include "fastweights/fastweights.h"

namespace fw {

// *ours (ours_size bytes) = the caller's struct: its first struct_size bytes,
// the rest zeros. FW_ERR_NULL_POINTER for a NULL caller,
// FW_ERR_INVALID_STRUCT_SIZE for a struct_size below sizeof(size_t) or over
// kMaxStructSize, FW_ERR_UNSUPPORTED when a longer (newer) struct has a
// non-zero byte past ours: a field this library does not know is in use.
fw_status read_struct_bytes(const void* caller, size_t ours_size, void* ours);

constexpr size_t kMaxStructSize = 65536;

template <class Args>
fw_status read_struct(const Args* caller, Args* ours) {
  return read_struct_bytes(caller, sizeof(Args), ours);
}

}  // namespace fw
