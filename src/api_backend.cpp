// Backend queries and override (public side of dispatch/backend.hpp).
#include "dispatch/backend.hpp"
#include "fastweights/fastweights.h"

extern "C" {

FW_API fw_backend fw_get_backend(void) { return fw::dispatch::active_backend(); }

FW_API fw_status fw_set_backend(fw_backend backend) { return fw::dispatch::set_backend(backend); }

FW_API const char* fw_backend_name(fw_backend backend) {
  return fw::dispatch::backend_name(backend);
}

FW_API int fw_backend_is_compiled(fw_backend backend) {
  return fw::dispatch::compiled_table(backend) != nullptr;
}

FW_API int fw_backend_is_supported(fw_backend backend) {
  return fw::dispatch::is_supported(backend);
}

}  // extern "C"
