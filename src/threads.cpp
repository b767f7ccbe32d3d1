#include "src/threads.hpp"

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <thread>

#if !defined(FW_HAVE_HWLOC) && defined(__linux__)
#include <sched.h>
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

#if !defined(FW_HAVE_HWLOC) && defined(__linux__)
// Without hwloc (the Python wheel): the cores of the CPUs this process may
// run on, from sysfs, one per (package, core) pair, so that SMT siblings do
// not double the default as a count of logical CPUs would; 0 if unreadable.
int read_topology_id(int cpu, const char* what) {
  char path[96];
  std::snprintf(path, sizeof path, "/sys/devices/system/cpu/cpu%d/topology/%s", cpu, what);
  std::FILE* f = std::fopen(path, "r");
  if (!f) return -1;
  int id = -1;
  if (std::fscanf(f, "%d", &id) != 1) id = -1;
  std::fclose(f);
  return id;
}

int sysfs_cores() {
  cpu_set_t allowed;
  if (sched_getaffinity(0, sizeof allowed, &allowed) != 0) return 0;
  static constexpr int kMaxCpus = CPU_SETSIZE;
  long seen[kMaxThreads];  // package * 2^20 + core of each core counted so far
  int n = 0;
  for (int cpu = 0; cpu < kMaxCpus && n < kMaxThreads; ++cpu) {
    if (!CPU_ISSET(cpu, &allowed)) continue;
    const int package = read_topology_id(cpu, "physical_package_id");
    const int core = read_topology_id(cpu, "core_id");
    if (package < 0 || core < 0) return 0;
    const long key = (static_cast<long>(package) << 20) + core;
    bool counted = false;
    for (int i = 0; i < n && !counted; ++i) counted = seen[i] == key;
    if (!counted) seen[n++] = key;
  }
  return n;
}
#endif

int physical_cores() {
  int n = 0;
#if !defined(FW_HAVE_HWLOC) && defined(__linux__)
  n = sysfs_cores();
#endif
#ifdef FW_HAVE_HWLOC
  hwloc_topology_t topo;
  if (hwloc_topology_init(&topo) == 0) {
    if (hwloc_topology_load(topo) == 0) n = hwloc_get_nbobjs_by_type(topo, HWLOC_OBJ_CORE);
    hwloc_topology_destroy(topo);
  }
#endif
  if (n <= 0) n = static_cast<int>(std::thread::hardware_concurrency());
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
