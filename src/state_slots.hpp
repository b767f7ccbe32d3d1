// The state pool's indices: each sequence's slot, checked before anything
// runs (docs/design.md, "State pools").
#pragma once

#include <cstdint>

#include "fastweights/fastweights.h"

namespace fw {

// FW_ERR_INVALID_STATE_INDEX if an index is >= slots or two sequences name
// the same slot (negative indices are padding entries and may repeat);
// FW_ERR_OUT_OF_MEMORY if the sort of more than kSlotsOnStack indices
// could not get its buffer.
fw_status check_state_indices(const int32_t* indices, int64_t n, int64_t slots);

// Indices sorted on the stack up to this many (16 KiB); more take one
// allocation.
constexpr int64_t kSlotsOnStack = 4096;

}  // namespace fw
