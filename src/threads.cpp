#include "src/threads.hpp"

#include <atomic>
#include <cstdlib>

#ifdef _OPENMP
#include <omp.h>
#endif
#ifdef FW_HAVE_HWLOC
#include <hwloc.h>
#endif

#include "fastweights/fastweights.h"

namespace fw {
namespace {

constexpr int kMaxThreads = 1024;

// Leading positive integer of an environment variable ("4" or "4,2" as
// OMP_NUM_THREADS allows), else 0.
int env_threads(const char* name) {
  // Read once, while the default thread count is first computed; the
  // library never calls setenv, so nothing of ours races this getenv.
  const char* s = std::getenv(name);  // NOLINT(concurrency-mt-unsafe)
  if (!s) return 0;
  char* end = nullptr;
  const long n = std::strtol(s, &end, 10);
  if (end == s || n <= 0) return 0;
  return n > kMaxThreads ? kMaxThreads : static_cast<int>(n);
}

int physical_cores() {
  int n = 0;
#ifdef FW_HAVE_HWLOC
  hwloc_topology_t topo;
  if (hwloc_topology_init(&topo) == 0) {
    if (hwloc_topology_load(topo) == 0) n = hwloc_get_nbobjs_by_type(topo, HWLOC_OBJ_CORE);
    hwloc_topology_destroy(topo);
  }
#endif
#ifdef _OPENMP
  if (n <= 0) n = omp_get_num_procs();
#endif
  return n > 0 ? (n > kMaxThreads ? kMaxThreads : n) : 1;
}

std::atomic<int> g_requested{0};

}  // namespace

int default_num_threads() {
  static const int n = [] {
    int t = env_threads("FASTWEIGHTS_NUM_THREADS");
    if (t <= 0) t = env_threads("OMP_NUM_THREADS");
    return t > 0 ? t : physical_cores();
  }();
  return n;
}

int num_threads() {
  const int n = g_requested.load(std::memory_order_relaxed);
  return n > 0 ? n : default_num_threads();
}

void set_num_threads(int n) {
  g_requested.store(n > 0 ? (n > kMaxThreads ? kMaxThreads : n) : 0, std::memory_order_relaxed);
}

}  // namespace fw

extern "C" {
FW_API void fw_set_num_threads(int n) { fw::set_num_threads(n); }
FW_API int fw_get_num_threads(void) { return fw::num_threads(); }
}
