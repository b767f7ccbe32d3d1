#include "dispatch/backend.hpp"

#include <atomic>
#include <cstdlib>
#include <cstring>

#include "dispatch/cpu_features.hpp"
#include "kernels/isa/backends.hpp"

namespace fw {
namespace dispatch {

const KernelTable* compiled_table(fw_backend backend) {
  switch (backend) {
    case FW_BACKEND_SCALAR: return scalar::kernel_table();
#ifdef FW_HAVE_AVX2
    case FW_BACKEND_AVX2: return avx2::kernel_table();
#endif
#ifdef FW_HAVE_AVX512
    case FW_BACKEND_AVX512: return avx512::kernel_table();
#endif
#ifdef FW_HAVE_NEON
    case FW_BACKEND_NEON: return neon::kernel_table();
#endif
    default: return nullptr;
  }
}

bool is_supported(fw_backend backend) {
  if (!compiled_table(backend)) return false;
  const CpuFeatures& f = cpu_features();
  switch (backend) {
    case FW_BACKEND_SCALAR: return true;
    case FW_BACKEND_AVX2: return f.avx2_fma;
    case FW_BACKEND_AVX512: return f.avx512;
    case FW_BACKEND_NEON: return f.neon;
    default: return false;
  }
}

fw_backend best_backend() {
  const fw_backend order[] = {FW_BACKEND_AVX512, FW_BACKEND_AVX2, FW_BACKEND_NEON};
  for (fw_backend b : order)
    if (is_supported(b)) return b;
  return FW_BACKEND_SCALAR;
}

int backend_from_name(const char* name) {
  if (!name) return -1;
  const char* names[] = {"auto", "scalar", "avx2", "avx512", "neon"};
  for (int i = 0; i < 5; ++i)
    if (std::strcmp(name, names[i]) == 0) return i;
  return -1;
}

namespace {

fw_backend initial_backend() {
  // Read once, inside active_slot()'s static initialiser; the library never
  // calls setenv, so nothing of ours races this getenv.
  // NOLINTNEXTLINE(concurrency-mt-unsafe)
  const int requested = backend_from_name(std::getenv("FASTWEIGHTS_BACKEND"));
  if (requested > 0 && is_supported(static_cast<fw_backend>(requested)))
    return static_cast<fw_backend>(requested);
  return best_backend();
}

std::atomic<int>& active_slot() {
  static std::atomic<int> slot{initial_backend()};  // thread-safe first use
  return slot;
}

}  // namespace

fw_backend active_backend() {
  return static_cast<fw_backend>(active_slot().load(std::memory_order_acquire));
}

const KernelTable* active_table() { return compiled_table(active_backend()); }

const KernelTable* table_for_call(int32_t backend) {
  return backend == FW_BACKEND_AUTO ? active_table()
                                    : compiled_table(static_cast<fw_backend>(backend));
}

fw_status set_backend(fw_backend backend) {
  if (backend == FW_BACKEND_AUTO) backend = best_backend();
  if (!is_supported(backend)) return FW_ERR_BACKEND_UNAVAILABLE;
  active_slot().store(backend, std::memory_order_release);
  return FW_OK;
}

}  // namespace dispatch
}  // namespace fw
