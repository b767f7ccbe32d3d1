// Paired A/B timing of two builds of libfastweights in one process, for
// changes worth a few percent on a noisy machine. Google Benchmark runs of
// one build after the other drift by 10-30 % on a shared VM; here the two
// builds take turns call by call on the same inputs (ABBA order), so a slow
// spell slows both, and the median of the per-pair ratios B / A holds
// within about 1.5 % when A and B are the same build.
//
//   fastweights_ab_compare LIB_A LIB_B OP T H K [PAIRS [THREADS [B]]]
//     OP: an fw_op (0 linear attention, 1 simple GLA, 2 delta rule, 3 gated
//     delta rule, ...); HV = H, V = K, the state updated in place. Side X (A
//     or B) runs chunked at the library's chunk unless FW_AB_MODE_X
//     (chunked, recurrent, auto) or FW_AB_CHUNK_X says otherwise, with
//     K-first states unless FW_AB_STATE_X=v_first, fp32 q, k, v and o
//     unless FW_AB_DTYPE_X=bf16 or f16; FW_AB_BACKWARD_X=1 times that
//     side's backward (fw_scan_backward: every gradient, chunked unless the
//     mode says otherwise) instead of its forward; FW_AB_INTER_X=1 has that
//     side's forward keep its intermediate states (at every chunk, or every
//     token in the recurrent form). LIB_A and LIB_B may be
//     the same file, to compare modes, chunk sizes, state layouts, dtypes,
//     or the backward against the forward (FW_AB_BACKWARD_B=1 alone).
//
// Each build is loaded with dlmopen into a namespace of its own, so two
// copies with the same soname (two build trees) really are two libraries.
// A build of the ABI 0 library (libfastweights.so.0, no fw_scan) is called
// through that ABI's struct, so that the ABI 1 rewrite could be timed
// against it (docs/decisions.md).
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

// fw_scan_args of libfastweights.so.0, field for field.
struct Abi0ScanArgs {
  size_t struct_size;
  int32_t dtype, mode;
  uint32_t flags;
  int32_t backend;
  int64_t batch, seq_len, num_heads, num_value_heads, head_dim_k, head_dim_v, chunk_size;
  float scale, eps;
  const void* q;
  int64_t q_stride[4];
  const void* k;
  int64_t k_stride[4];
  const void* v;
  int64_t v_stride[4];
  const void* g;
  int64_t g_stride[3];
  const void* beta;
  int64_t beta_stride[3];
  void* o;
  int64_t o_stride[4];
  const float* initial_state;
  float* final_state;
  const float* initial_norm;
  float* final_norm;
  const int64_t* cu_seqlens;
  int64_t num_seqs;
};

Abi0ScanArgs to_abi0(const fw_scan_args& a) {
  Abi0ScanArgs b{};
  b.struct_size = sizeof b;
  b.mode = a.mode;
  b.flags = a.flags;
  b.batch = a.batch;
  b.seq_len = a.seq_len;
  b.num_heads = a.num_heads;
  b.num_value_heads = a.num_value_heads;
  b.head_dim_k = a.head_dim_k;
  b.head_dim_v = a.head_dim_v;
  b.chunk_size = a.chunk_size;
  b.eps = 1e-6f;
  b.q = a.q.data;
  b.k = a.k.data;
  b.v = a.v.data;
  b.g = a.g.data;
  b.beta = a.beta.data;
  b.o = a.o.data;
  for (int i = 0; i < 4; ++i) {
    b.q_stride[i] = a.q.stride[i];
    b.k_stride[i] = a.k.stride[i];
    b.v_stride[i] = a.v.stride[i];
    b.o_stride[i] = a.o.stride[i];
  }
  for (int i = 0; i < 3; ++i) {
    b.g_stride[i] = a.g.stride[i];
    b.beta_stride[i] = a.beta.stride[i];
  }
  b.initial_state = static_cast<const float*>(a.initial_state.data);
  b.final_state = static_cast<float*>(a.final_state.data);
  return b;
}

using ScanFn = fw_status (*)(fw_op, const fw_scan_args*);
using Abi0Fn = fw_status (*)(const void*);
using SetThreadsFn = void (*)(int);
using OpInfoFn = fw_status (*)(fw_op, fw_op_info*);
using InterCountFn = fw_status (*)(fw_op, const fw_scan_args*, int64_t*);

struct Build {
  ScanFn scan = nullptr;       // ABI 1
  ScanFn backward = nullptr;   // ABI 1, from the backward's issue on
  Abi0Fn abi0_ops[4] = {};     // ABI 0: one entry point per op
  OpInfoFn op_info = nullptr;  // ABI 1
  InterCountFn inter_count = nullptr;
  SetThreadsFn set_threads = nullptr;
};

bool load(const char* path, Build* b) {
  void* h = dlmopen(LM_ID_NEWLM, path, RTLD_NOW | RTLD_LOCAL);
  if (!h) {
    std::fprintf(stderr, "%s\n", dlerror());
    return false;
  }
  b->scan = reinterpret_cast<ScanFn>(dlsym(h, "fw_scan"));
  b->backward = reinterpret_cast<ScanFn>(dlsym(h, "fw_scan_backward"));
  b->op_info = reinterpret_cast<OpInfoFn>(dlsym(h, "fw_op_get_info"));
  b->inter_count = reinterpret_cast<InterCountFn>(dlsym(h, "fw_intermediate_state_count"));
  b->set_threads = reinterpret_cast<SetThreadsFn>(dlsym(h, "fw_set_num_threads"));
  if (!b->scan) {
    const char* names[4] = {"fw_linear_attn", "fw_simple_gla", "fw_delta_rule",
                            "fw_gated_delta_rule"};
    for (int i = 0; i < 4; ++i) {
      b->abi0_ops[i] = reinterpret_cast<Abi0Fn>(dlsym(h, names[i]));
      if (!b->abi0_ops[i]) return false;
    }
  }
  return b->set_threads != nullptr;
}

fw_status call(const Build& b, int op, const fw_scan_args& a, const Abi0ScanArgs& a0,
               bool backward) {
  if (backward) return b.backward ? b.backward(static_cast<fw_op>(op), &a) : FW_ERR_UNSUPPORTED;
  if (b.scan) return b.scan(static_cast<fw_op>(op), &a);
  return op < 4 ? b.abi0_ops[op](&a0) : FW_ERR_UNSUPPORTED;
}

const char* env_side(const char* what, char side) {
  return std::getenv((std::string("FW_AB_") + what + "_" + side).c_str());
}

fw_scan_args make_args(fwbench::ScanProblem& p, const fw_op_info& info, char side) {
  const char* m = env_side("MODE", side);
  int32_t mode = FW_MODE_CHUNKED;
  if (m && std::strcmp(m, "recurrent") == 0) mode = FW_MODE_RECURRENT;
  if (m && std::strcmp(m, "auto") == 0) mode = FW_MODE_AUTO;
  const char* chunk = env_side("CHUNK", side);
  const char* state = env_side("STATE", side);
  const bool v_first = state && std::strcmp(state, "v_first") == 0;
  const char* d = env_side("DTYPE", side);
  int32_t dtype = FW_DTYPE_F32;
  if (d && std::strcmp(d, "bf16") == 0) dtype = FW_DTYPE_BF16;
  if (d && std::strcmp(d, "f16") == 0) dtype = FW_DTYPE_F16;
  return fwbench::scan_args(p, info, mode, chunk ? std::atoi(chunk) : FW_CHUNK_SIZE_AUTO, v_first,
                            dtype);
}

double median(std::vector<double> x) {
  std::sort(x.begin(), x.end());
  return x[x.size() / 2];
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 7) {
    std::fprintf(stderr, "usage: %s LIB_A LIB_B OP T H K [PAIRS [THREADS [B]]]\n", argv[0]);
    return 2;
  }
  Build builds[2];
  if (!load(argv[1], &builds[0]) || !load(argv[2], &builds[1])) return 1;
  const int op = std::atoi(argv[3]);
  const int64_t T = std::atol(argv[4]), H = std::atol(argv[5]), K = std::atol(argv[6]);
  const int pairs = argc > 7 ? std::atoi(argv[7]) : 12;
  const int threads = argc > 8 ? std::atoi(argv[8]) : 1;
  const int64_t batch = argc > 9 ? std::atol(argv[9]) : 1;
  if (T < 1 || H < 1 || K < 1 || pairs < 1 || batch < 1) return 2;
  const OpInfoFn op_info = builds[1].op_info ? builds[1].op_info : builds[0].op_info;
  fw_op_info info{};
  info.struct_size = sizeof info;
  if (!op_info || op_info(static_cast<fw_op>(op), &info) != FW_OK) {
    std::fprintf(stderr, "unknown op %d (or neither build has ABI 1's op registry)\n", op);
    return 2;
  }

  fwbench::ScanProblem p(batch, T, H, H, K, K);
  fw_scan_args args[2] = {make_args(p, info, 'A'), make_args(p, info, 'B')};
  bool backward[2];
  fwbench::Gradients grads[2];
  fwbench::Tensor inter[2];
  for (int s = 0; s < 2; ++s) {
    const char* b = env_side("BACKWARD", s == 0 ? 'A' : 'B');
    backward[s] = b && std::strcmp(b, "1") == 0;
    if (backward[s]) grads[s].attach(p, info, &args[s]);
    const char* keep = env_side("INTER", s == 0 ? 'A' : 'B');
    int64_t steps = 0;
    if (keep && std::strcmp(keep, "1") == 0) {
      if (!builds[s].inter_count ||
          builds[s].inter_count(static_cast<fw_op>(op), &args[s], &steps) != FW_OK) {
        std::fprintf(stderr, "side %c: no intermediate states\n", s == 0 ? 'A' : 'B');
        return 2;
      }
      inter[s].resize(batch * steps * H * K * K);
      const int64_t sizes[5] = {batch, steps, H, K, K};
      fw_tensor_contiguous(&args[s].intermediate_states, inter[s].data(), 5, sizes);
    }
  }
  const Abi0ScanArgs abi0[2] = {to_abi0(args[0]), to_abi0(args[1])};
  for (Build& b : builds) b.set_threads(threads);
  std::vector<double> ms[2], ratio;
  for (int i = -2; i < pairs; ++i) {  // two warm-up pairs
    double t[2];
    for (int turn = 0; turn < 2; ++turn) {
      const int s = (i & 1) ? 1 - turn : turn;  // ABBA
      const auto t0 = std::chrono::steady_clock::now();
      if (call(builds[s], op, args[s], abi0[s], backward[s]) != FW_OK) {
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
      "%s B=%ld T=%ld H=%ld K=%ld threads=%d: A %.3f ms, B %.3f ms, B/A %.4f"
      " (medians of %d pairs)\n",
      info.name, long(batch), long(T), long(H), long(K), threads, median(ms[0]), median(ms[1]),
      median(ratio), pairs);
  return 0;
}
