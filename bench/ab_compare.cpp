// Paired A/B timing of two builds of libfastweights in one process, for
// changes worth a few percent on a noisy machine. Google Benchmark runs of
// one build after the other drift by 10-30 % on a shared VM; here the two
// builds take turns call by call on the same inputs (ABBA order), so a slow
// spell slows both, and the median of the per-pair ratios B / A holds
// within about 1.5 % when A and B are the same build.
//
//   fastweights_ab_compare LIB_A LIB_B OP T H K [PAIRS [THREADS]]
//     OP 0..3: linear attention, simple GLA, delta rule, gated delta rule;
//     B = 1, HV = H, V = K. Side X (A or B) runs chunked at the library's
//     chunk unless FW_AB_MODE_X (chunked, recurrent, auto) or FW_AB_CHUNK_X
//     says otherwise; LIB_A and LIB_B may be the same file, to compare modes
//     or chunk sizes.
//
// Each build is loaded with dlmopen into a namespace of its own, so two
// copies with the same soname (two build trees) really are two libraries.
#include <dlfcn.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "bench/scan_problem.hpp"
#include "fastweights/fastweights.h"

namespace {

using ScanFn = fw_status (*)(const fw_scan_args*);
using SetThreadsFn = void (*)(int);

struct Build {
  ScanFn ops[4];
  SetThreadsFn set_threads;
};

bool load(const char* path, Build* b) {
  void* h = dlmopen(LM_ID_NEWLM, path, RTLD_NOW | RTLD_LOCAL);
  if (!h) {
    std::fprintf(stderr, "%s\n", dlerror());
    return false;
  }
  const char* names[4] = {"fw_linear_attn", "fw_simple_gla", "fw_delta_rule",
                          "fw_gated_delta_rule"};
  for (int i = 0; i < 4; ++i) b->ops[i] = reinterpret_cast<ScanFn>(dlsym(h, names[i]));
  b->set_threads = reinterpret_cast<SetThreadsFn>(dlsym(h, "fw_set_num_threads"));
  for (ScanFn f : b->ops)
    if (!f) return false;
  return b->set_threads != nullptr;
}

int32_t mode_from_env(const char* name) {
  const char* m = std::getenv(name);
  if (m && std::strcmp(m, "recurrent") == 0) return FW_MODE_RECURRENT;
  if (m && std::strcmp(m, "auto") == 0) return FW_MODE_AUTO;
  return FW_MODE_CHUNKED;
}

fw_scan_args make_args(fwbench::ScanProblem& p, int op, char side) {
  const char* chunk = std::getenv((std::string("FW_AB_CHUNK_") + side).c_str());
  return fwbench::scan_args(p, op, mode_from_env((std::string("FW_AB_MODE_") + side).c_str()),
                            chunk ? std::atoi(chunk) : FW_CHUNK_SIZE_AUTO);
}

double median(std::vector<double> x) {
  std::sort(x.begin(), x.end());
  return x[x.size() / 2];
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 7) {
    std::fprintf(stderr, "usage: %s LIB_A LIB_B OP T H K [PAIRS [THREADS]]\n", argv[0]);
    return 2;
  }
  Build builds[2];
  if (!load(argv[1], &builds[0]) || !load(argv[2], &builds[1])) return 1;
  const int op = std::atoi(argv[3]);
  const int64_t T = std::atol(argv[4]), H = std::atol(argv[5]), K = std::atol(argv[6]);
  const int pairs = argc > 7 ? std::atoi(argv[7]) : 12;
  const int threads = argc > 8 ? std::atoi(argv[8]) : 1;
  if (op < 0 || op > 3 || T < 1 || H < 1 || K < 1 || pairs < 1) return 2;

  fwbench::ScanProblem p(1, T, H, H, K, K);
  const fw_scan_args args[2] = {make_args(p, op, 'A'), make_args(p, op, 'B')};
  for (Build& b : builds) b.set_threads(threads);
  std::vector<double> ms[2], ratio;
  for (int i = -2; i < pairs; ++i) {  // two warm-up pairs
    double t[2];
    for (int turn = 0; turn < 2; ++turn) {
      const int s = (i & 1) ? 1 - turn : turn;  // ABBA
      const auto t0 = std::chrono::steady_clock::now();
      if (builds[s].ops[op](&args[s]) != FW_OK) {
        std::fprintf(stderr, "scan failed\n");
        return 1;
      }
      const auto t1 = std::chrono::steady_clock::now();
      t[s] = std::chrono::duration<double, std::milli>(t1 - t0).count();
    }
    if (i < 0) continue;
    ms[0].push_back(t[0]);
    ms[1].push_back(t[1]);
    ratio.push_back(t[1] / t[0]);
  }
  std::printf(
      "%s T=%ld H=%ld K=%ld threads=%d: A %.2f ms, B %.2f ms, B/A %.4f"
      " (medians of %d pairs)\n",
      fwbench::op_name(op), long(T), long(H), long(K), threads, median(ms[0]), median(ms[1]),
      median(ratio), pairs);
  return 0;
}
