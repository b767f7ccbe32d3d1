// The backend registry: which kernel tables are compiled in, which the CPU
// supports, and which one is active (process-wide, atomic).
#pragma once

#include "fastweights/fastweights.h"
#include "kernels/kernel_table.hpp"

namespace fw {
namespace dispatch {

// nullptr when the backend is not compiled into this library.
const KernelTable* compiled_table(fw_backend backend);
bool is_supported(fw_backend backend);  // compiled and runnable here
fw_backend best_backend();

// The active backend; the first use picks FASTWEIGHTS_BACKEND when it names a
// supported backend, else the best one (an unusable value is ignored: the
// library never prints and never fails to load).
fw_backend active_backend();
const KernelTable* active_table();
fw_status set_backend(fw_backend backend);
// The table a call runs on: its own supported backend, or the active one
// for FW_BACKEND_AUTO (the argument checks have vetted the value).
const KernelTable* table_for_call(int32_t backend);

// "scalar", "avx2", ... (kernels/isa/isa_list.h), "auto"; "unknown" otherwise.
const char* backend_name(fw_backend backend);
// "scalar" -> FW_BACKEND_SCALAR, ...; FW_BACKEND_AUTO for "auto"; -1 unknown.
int backend_from_name(const char* name);

}  // namespace dispatch
}  // namespace fw
