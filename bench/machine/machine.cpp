#include "bench/machine/machine.hpp"

#include <omp.h>

#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <map>
#include <sstream>
#include <utility>
#include <vector>

#ifdef FW_BENCH_HWLOC
#include <hwloc.h>
#endif

namespace fwbench {

double fma_flops_scalar(int64_t iters);
#if defined(__x86_64__)
double fma_flops_avx2(int64_t iters);
double fma_flops_avx512(int64_t iters);
#elif defined(__aarch64__)
double fma_flops_neon(int64_t iters);
#endif

namespace {

using Clock = std::chrono::steady_clock;

double flops_on(fw_backend b, int64_t iters) {
  switch (b) {
#if defined(__x86_64__)
    case FW_BACKEND_AVX2: return fma_flops_avx2(iters);
    case FW_BACKEND_AVX512: return fma_flops_avx512(iters);
#elif defined(__aarch64__)
    case FW_BACKEND_NEON: return fma_flops_neon(iters);
#endif
    default: return fma_flops_scalar(iters);
  }
}

}  // namespace

double fma_peak_gflops(fw_backend backend, int threads) {
  static std::map<std::pair<int, int>, double> cache;
  const auto key = std::make_pair(static_cast<int>(backend), threads);
  if (cache.count(key)) return cache[key];
  const int64_t iters = 20000000;
  double best = 0;
  for (int rep = 0; rep < 3; ++rep) {  // best of three: the peak is a ceiling
    double flops = 0;
    const auto t0 = Clock::now();
#pragma omp parallel num_threads(threads) reduction(+ : flops)
    flops += flops_on(backend, iters);
    const double s = std::chrono::duration<double>(Clock::now() - t0).count();
    if (flops / s > best) best = flops / s;
  }
  return cache[key] = best * 1e-9;
}

double copy_bandwidth_gbs(int threads) {
  static std::map<int, double> cache;
  if (cache.count(threads)) return cache[threads];
  const size_t bytes = size_t{256} << 20;
  std::vector<char> src(bytes, 1), dst(bytes, 0);
  double best = 0;
  for (int rep = 0; rep < 5; ++rep) {
    const auto t0 = Clock::now();
#pragma omp parallel num_threads(threads)
    {
      const size_t part = bytes / omp_get_num_threads(), off = part * omp_get_thread_num();
      std::memcpy(dst.data() + off, src.data() + off, part);
    }
    const double s = std::chrono::duration<double>(Clock::now() - t0).count();
    if (2.0 * bytes / s > best) best = 2.0 * bytes / s;
  }
  return cache[threads] = best * 1e-9;
}

std::string cpu_model() {
  std::ifstream in("/proc/cpuinfo");
  for (std::string line; std::getline(in, line);)
    if (line.rfind("model name", 0) == 0 || line.rfind("Model", 0) == 0)
      return line.substr(line.find(':') + 2);
  return "unknown";
}

std::string topology() {
  std::ostringstream out;
#ifdef FW_BENCH_HWLOC
  hwloc_topology_t topo;
  hwloc_topology_init(&topo);
  hwloc_topology_load(topo);
  out << hwloc_get_nbobjs_by_type(topo, HWLOC_OBJ_PACKAGE) << " package(s), "
      << hwloc_get_nbobjs_by_type(topo, HWLOC_OBJ_CORE) << " cores, "
      << hwloc_get_nbobjs_by_type(topo, HWLOC_OBJ_PU) << " threads";
  const hwloc_obj_type_t caches[] = {HWLOC_OBJ_L1CACHE, HWLOC_OBJ_L2CACHE, HWLOC_OBJ_L3CACHE};
  const char* names[] = {"L1d", "L2", "L3"};
  for (int i = 0; i < 3; ++i) {
    hwloc_obj_t c = hwloc_get_obj_by_type(topo, caches[i], 0);
    if (c && c->attr)
      out << ", " << names[i] << " " << (c->attr->cache.size >> 10) << " KiB x "
          << hwloc_get_nbobjs_by_type(topo, caches[i]);
  }
  hwloc_topology_destroy(topo);
#else
  out << omp_get_num_procs() << " logical CPUs";
#endif
  return out.str();
}

}  // namespace fwbench
