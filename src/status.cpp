// Status text and version queries.
#include "fastweights/fastweights.h"

#define FW_STR2(x) #x
#define FW_STR(x) FW_STR2(x)

extern "C" {

FW_API const char* fw_status_string(fw_status status) {
  switch (status) {
    case FW_OK: return "ok";
    case FW_ERR_NULL_POINTER: return "a required pointer is NULL";
    case FW_ERR_INVALID_DIMENSION: return "a dimension is non-positive, too large or overflows";
    case FW_ERR_INVALID_STRIDE:
      return "invalid stride: negative, last dimension not contiguous, or overlapping output";
    case FW_ERR_HEAD_MISMATCH:
      return "number of value heads is not a multiple of the number of heads";
    case FW_ERR_INVALID_CU_SEQLENS:
      return "invalid cu_seqlens: must start at 0, not decrease, end at T, and need batch == 1";
    case FW_ERR_INVALID_FLAGS: return "unknown flag, or a flag this operation does not take";
    case FW_ERR_INVALID_CHUNK_SIZE: return "chunk size outside [0, FW_MAX_CHUNK_SIZE]";
    case FW_ERR_INVALID_STRUCT_SIZE: return "struct_size below sizeof(size_t) or over 64 KiB";
    case FW_ERR_UNSUPPORTED:
      return "unsupported dtype, mode or kind, or a field this library does not know is set";
    case FW_ERR_INVALID_ARGUMENT: return "invalid argument value";
    case FW_ERR_ALIASING: return "an output buffer overlaps an input or another output";
    case FW_ERR_OUT_OF_MEMORY: return "out of memory";
    case FW_ERR_BACKEND_UNAVAILABLE: return "backend not compiled in or not supported by this CPU";
    case FW_ERR_INVALID_STATE_INDEX:
      return "a state index is not below num_state_slots, or two sequences name the same slot";
    default: break;
  }
  return "unknown status";
}

FW_API void fw_version(int* major, int* minor, int* patch) {
  if (major) *major = FASTWEIGHTS_VERSION_MAJOR;
  if (minor) *minor = FASTWEIGHTS_VERSION_MINOR;
  if (patch) *patch = FASTWEIGHTS_VERSION_PATCH;
}

FW_API const char* fw_version_string(void) {
  return FW_STR(FASTWEIGHTS_VERSION_MAJOR) "." FW_STR(FASTWEIGHTS_VERSION_MINOR) "." FW_STR(
      FASTWEIGHTS_VERSION_PATCH);
}

}  // extern "C"
