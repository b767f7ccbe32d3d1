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

// Per ISA (peak_<isa>.cpp): the xsimd loop and the intrinsic loop, flops done.
double fma_flops_scalar(int64_t iters);
double fma_flops_scalar_intrinsic(int64_t iters);
#if defined(__x86_64__)
double fma_flops_avx2(int64_t iters);
double fma_flops_avx2_intrinsic(int64_t iters);
double fma_flops_avx512(int64_t iters);
double fma_flops_avx512_intrinsic(int64_t iters);
#elif defined(__aarch64__)
double fma_flops_neon(int64_t iters);
double fma_flops_neon_intrinsic(int64_t iters);
#endif

namespace {

using Clock = std::chrono::steady_clock;

double flops_on(fw_backend b, bool intrinsic, int64_t iters) {
  switch (b) {
#if defined(__x86_64__)
    case FW_BACKEND_AVX2:
      return intrinsic ? fma_flops_avx2_intrinsic(iters) : fma_flops_avx2(iters);
    case FW_BACKEND_AVX512:
      return intrinsic ? fma_flops_avx512_intrinsic(iters) : fma_flops_avx512(iters);
#elif defined(__aarch64__)
    case FW_BACKEND_NEON:
      return intrinsic ? fma_flops_neon_intrinsic(iters) : fma_flops_neon(iters);
#endif
    default: return intrinsic ? fma_flops_scalar_intrinsic(iters) : fma_flops_scalar(iters);
  }
}

}  // namespace

// Both loops, alternating, in runs of 4 M iterations (about 10 ms) until each
// has had 8 runs and 0.4 s: the best run is the ceiling. Three runs of 20 M
// right at start-up, as before, read the AVX-512 loop at 132 GFLOP/s on the
// Cascade Lake where 0.4 s of runs read 147-148 (docs/decisions.md).
FmaPeak fma_peak(fw_backend backend, int threads) {
  static std::map<std::pair<int, int>, FmaPeak> cache;
  const auto key = std::make_pair(static_cast<int>(backend), threads);
  if (cache.count(key)) return cache[key];
  const int64_t iters = 4000000;
  double best[2] = {0, 0}, spent[2] = {0, 0};
  for (int run = 0; run < 8 || spent[0] < 0.4 || spent[1] < 0.4; ++run) {
    for (int intrinsic = 0; intrinsic < 2; ++intrinsic) {
      double flops = 0;
      const auto t0 = Clock::now();
#pragma omp parallel num_threads(threads) reduction(+ : flops)
      flops += flops_on(backend, intrinsic != 0, iters);
      const double s = std::chrono::duration<double>(Clock::now() - t0).count();
      spent[intrinsic] += s;
      if (flops / s > best[intrinsic]) best[intrinsic] = flops / s;
    }
  }
  return cache[key] = FmaPeak{best[0] * 1e-9, best[1] * 1e-9};
}

double fma_peak_gflops(fw_backend backend, int threads) {
  const FmaPeak p = fma_peak(backend, threads);
  return p.xsimd > p.intrinsic ? p.xsimd : p.intrinsic;
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
