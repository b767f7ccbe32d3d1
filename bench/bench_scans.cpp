// Throughput of every scan, chunked (prefill) and recurrent (decode), on the
// active backend (FASTWEIGHTS_BACKEND picks another). Counters: tokens/s and
// model GFLOP/s, with model FLOPs per token and value head of 4*K*V (linear
// attention) and 6*K*V (delta rule), DESIGN.md §2.
#include <benchmark/benchmark.h>

#include <cmath>
#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include "fastweights/fastweights.h"

namespace {

enum Op { kLinear, kGla, kDelta, kGatedDelta };
const char* kOpNames[] = {"linear_attn", "simple_gla", "delta_rule", "gated_delta_rule"};

struct Buffers {
  std::vector<float> q, k, v, g, beta, o, state;
};

void fill(std::vector<float>& x, size_t n, float lo, float hi, std::mt19937& rng) {
  std::uniform_real_distribution<float> d(lo, hi);
  x.resize(n);
  for (float& e : x) e = d(rng);
}

void BM_Scan(benchmark::State& st, Op op, int32_t mode) {
  const int64_t B = st.range(0), T = st.range(1), H = st.range(2), HV = st.range(3);
  const int64_t K = st.range(4), V = st.range(4);
  std::mt19937 rng(0);
  Buffers b;
  fill(b.q, B * T * H * K, -1, 1, rng);
  fill(b.k, B * T * H * K, -1, 1, rng);
  fill(b.v, B * T * HV * V, -1, 1, rng);
  fill(b.g, B * T * HV, -0.1f, 0, rng);
  fill(b.beta, B * T * HV, 0.1f, 0.9f, rng);
  b.o.resize(B * T * HV * V);
  b.state.assign(B * HV * K * V, 0.0f);

  fw_scan_args a;
  fw_scan_args_init(&a);
  a.mode = mode;
  a.batch = B;
  a.seq_len = T;
  a.num_heads = H;
  a.num_value_heads = HV;
  a.head_dim_k = K;
  a.head_dim_v = V;
  a.flags = (op == kDelta || op == kGatedDelta) ? FW_FLAG_QK_L2NORM : 0;
  const int64_t qs[4] = {T * H * K, H * K, K, 1}, vs[4] = {T * HV * V, HV * V, V, 1};
  const int64_t gs[3] = {T * HV, HV, 1};
  for (int i = 0; i < 4; ++i) a.q_stride[i] = a.k_stride[i] = qs[i], a.v_stride[i] = a.o_stride[i] = vs[i];
  for (int i = 0; i < 3; ++i) a.g_stride[i] = a.beta_stride[i] = gs[i];
  a.q = b.q.data();
  a.k = b.k.data();
  a.v = b.v.data();
  a.o = b.o.data();
  if (op == kGla || op == kGatedDelta) a.g = b.g.data();
  if (op == kDelta || op == kGatedDelta) a.beta = b.beta.data();
  // Decode carries its state from step to step, as a serving loop does.
  a.initial_state = a.final_state = b.state.data();

  fw_status (*fn)(const fw_scan_args*) = op == kLinear ? fw_linear_attn
                                         : op == kGla  ? fw_simple_gla
                                         : op == kDelta ? fw_delta_rule
                                                        : fw_gated_delta_rule;
  for (auto _ : st) {
    if (fn(&a) != FW_OK) {
      st.SkipWithError("scan failed");
      break;
    }
    benchmark::ClobberMemory();
  }
  const double tokens = double(B * T), flops_per = (op >= kDelta ? 6.0 : 4.0) * K * V * HV;
  st.counters["tokens/s"] = benchmark::Counter(tokens, benchmark::Counter::kIsIterationInvariantRate);
  st.counters["GFLOP/s"] =
      benchmark::Counter(tokens * flops_per * 1e-9, benchmark::Counter::kIsIterationInvariantRate);
  if (mode == FW_MODE_RECURRENT)  // each step reads and writes every state
    st.counters["state_bytes/s"] = benchmark::Counter(
        2.0 * B * HV * K * V * sizeof(float) * T, benchmark::Counter::kIsIterationInvariantRate,
        benchmark::Counter::kIs1024);
}

void register_all() {
  for (int op = 0; op < 4; ++op) {
    const std::string name = kOpNames[op];
    // Prefill: B, T, H, HV, K = V.
    benchmark::RegisterBenchmark(("chunk_" + name).c_str(), BM_Scan, Op(op), FW_MODE_CHUNKED)
        ->Args({1, 1024, 4, 4, 64})
        ->Args({1, 1024, 2, 4, 128})
        ->Unit(benchmark::kMillisecond)
        ->UseRealTime();
    // Decode: one token per call.
    benchmark::RegisterBenchmark(("fused_recurrent_" + name).c_str(), BM_Scan, Op(op),
                                 FW_MODE_RECURRENT)
        ->Args({8, 1, 16, 32, 128})
        ->Unit(benchmark::kMicrosecond)
        ->UseRealTime();
  }
}

}  // namespace

int main(int argc, char** argv) {
  benchmark::Initialize(&argc, argv);
  benchmark::AddCustomContext("fastweights_backend", fw_backend_name(fw_get_backend()));
  benchmark::AddCustomContext("fastweights_version", fw_version_string());
  benchmark::AddCustomContext("fastweights_threads", std::to_string(fw_get_num_threads()));
  register_all();
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
