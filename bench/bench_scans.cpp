// Throughput suite: every scan x {chunked prefill, recurrent decode, auto} x
// shapes x threads, with the peers on the same shapes in the same run:
// (a) chunked scans composed from OpenBLAS calls (bench/peers), (c) this
// library's portable scalar backend. (b), PyTorch, is bench/peers/torch_peer.py
// (Python, against the binding in one process: PyTorch is a pip download).
//
// Counters: tokens/s; model GFLOP/s (4KV per token and value head for linear
// attention, 6KV for the delta rule: docs/design.md); efficiency = model FLOP/s
// / the FMA peak of the active backend measured here on the same number of
// threads (peers included: one yardstick per machine); for decode, state GB/s (each step reads and
// writes every state) and its fraction of the measured copy bandwidth. The JSON context records the
// CPU, backend, topology, peaks and bandwidths.
//
// FW_BENCH_CHUNK=n runs the library's scans and the OpenBLAS peer with chunk
// size n (tuning); both use the library's default otherwise.
// FW_BENCH_FULL=1 registers the whole shape matrix (hours on two
// cores); the default set holds the shapes its targets name.
#include <benchmark/benchmark.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdlib>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "bench/console_context.hpp"
#include "bench/machine/busy_core.hpp"
#include "bench/machine/machine.hpp"
#include "bench/peers/blas_chunked.hpp"
#ifdef FW_BENCH_GGML
#include "bench/peers/ggml_peer.hpp"
#endif
#include "bench/scan_problem.hpp"
#include "fastweights/fastweights.h"

namespace fwbench {
namespace {

constexpr int kPeerScalar = -1;  // backend argument: this library's scalar backend

// The library's chunk size: FW_BENCH_CHUNK, else its own pick.
int64_t chunk_size() {
  const char* c = std::getenv("FW_BENCH_CHUNK");
  return c ? std::atoi(c) : FW_CHUNK_SIZE_AUTO;
}

// The OpenBLAS peer runs at the chunk the library runs at: its time depends
// on it as much as ours (at T = 4096, H = 16, K = V = 128, one thread, its
// linear attention took 93 ms at chunk 64, 74 ms at 32).
int64_t peer_chunk_size(int op, int64_t K) {
  const int64_t c = chunk_size();
  return c != FW_CHUNK_SIZE_AUTO ? c : fw_chunk_size(static_cast<fw_op>(op), K);
}

// The inputs of the benchmark's shape (args B, T, H, HV, K = V), drawn once
// per shape: Google Benchmark calls a benchmark afresh for each of its
// iteration-count probes and repetitions, and drawing the inputs each time
// (25 M numbers at T = 4096, H = 16) made a default run's benchmarks take
// about 20 s each. Runs that change the state in place leave it changed for
// the next; the times do not depend on its values.
ScanProblem& problem(const benchmark::State& st) {
  static std::unique_ptr<ScanProblem> last;
  const int64_t B = st.range(0), T = st.range(1), H = st.range(2), HV = st.range(3),
                K = st.range(4);
  if (!last || last->B != B || last->T != T || last->H != H || last->HV != HV || last->K != K) {
    last.reset();  // before drawing the next: decode's pools are 128 MiB
    last = std::make_unique<ScanProblem>(B, T, H, HV, K, K);
  }
  return *last;
}

fw_scan_args make_args(ScanProblem& p, int op, int32_t mode, bool v_first = false,
                       int32_t dtype = FW_DTYPE_F32) {
  return scan_args(p, op, mode, chunk_size(), v_first, dtype);
}

void set_counters(benchmark::State& st, const ScanProblem& p, int op, int threads,
                  fw_backend backend, bool decode) {
  const double tokens = double(p.B * p.T);
  const double gflop = tokens * p.HV * model_flops(op, p.K, p.V) * 1e-9;
  const double peak = fma_peak_gflops(backend, threads);
  using C = benchmark::Counter;
  st.counters["tokens/s"] = C(tokens, C::kIsIterationInvariantRate);
  st.counters["GFLOP/s"] = C(gflop, C::kIsIterationInvariantRate);
  st.counters["efficiency"] = C(gflop / peak, C::kIsIterationInvariantRate);
  if (decode) {
    const double gb = 2.0 * p.B * p.HV * p.K * p.V * sizeof(float) * p.T * 1e-9;
    st.counters["state_GB/s"] = C(gb, C::kIsIterationInvariantRate);
    st.counters["copy_bw_frac"] = C(gb / copy_bandwidth_gbs(threads), C::kIsIterationInvariantRate);
  }
}

// args: B, T, H, HV, K (= V), threads; dtype: of q, k, v and o
void BM_FastweightsTyped(benchmark::State& st, int op, int32_t mode, int backend_arg, bool v_first,
                         int32_t dtype) {
  ScanProblem& p = problem(st);
  const int threads = int(st.range(5));
  fw_scan_args a = make_args(p, op, mode, v_first, dtype);
  const fw_backend backend = backend_arg == kPeerScalar ? FW_BACKEND_SCALAR : fw_get_backend();
  a.backend = backend;
  fw_set_num_threads(threads);
  for (auto _ : st) {
    if (fw_scan(static_cast<fw_op>(op), &a) != FW_OK) {
      st.SkipWithError("scan failed");
      break;
    }
    benchmark::ClobberMemory();
  }
  fw_set_num_threads(0);
  // One yardstick per machine: the active backend's peak, for the scalar peer too.
  set_counters(st, p, op, threads, fw_get_backend(), mode == FW_MODE_RECURRENT && p.T == 1);
  st.SetLabel(fw_backend_name(backend));
}

void BM_Fastweights(benchmark::State& st, int op, int32_t mode, int backend_arg, bool v_first) {
  BM_FastweightsTyped(st, op, mode, backend_arg, v_first, FW_DTYPE_F32);
}

// The median of a row's call times (sorts them); 0 when there are none.
double median_ms(std::vector<double>& ms) {
  std::sort(ms.begin(), ms.end());
  return ms.empty() ? 0.0 : ms[ms.size() / 2];
}

// Each benchmark iteration times call(0) .. call(N - 1) (each returns its
// milliseconds), the order rotating by one per iteration so that no variant
// always runs first; med[m] is call(m)'s median.
template <int N, class Call>
void medians_in_turn(benchmark::State& st, Call&& call, double (&med)[N]) {
  std::vector<double> ms[N];
  int64_t turn = 0;
  for (auto _ : st) {
    for (int i = 0; i < N; ++i) {
      const int m = int((turn + i) % N);
      ms[m].push_back(call(m));
    }
    ++turn;
    benchmark::ClobberMemory();
  }
  for (int m = 0; m < N; ++m) med[m] = median_ms(ms[m]);
}

// AUTO against both forms on the same inputs, call by call in rotating
// order: separate benchmark runs of calls this short (microseconds) drift
// by more than the 10 % that the AUTO target allows. Counters: the median
// milliseconds of each (auto_ms, chunked_ms, recurrent_ms) and
// auto_over_best = auto_ms / the smaller of the other two.
void BM_AutoPaired(benchmark::State& st, int op) {
  ScanProblem& p = problem(st);
  const int32_t modes[3] = {FW_MODE_AUTO, FW_MODE_CHUNKED, FW_MODE_RECURRENT};
  fw_scan_args a[3];
  for (int m = 0; m < 3; ++m) a[m] = make_args(p, op, modes[m]);
  fw_set_num_threads(int(st.range(5)));
  double med[3];
  medians_in_turn(
      st,
      [&](int m) {
        const auto t0 = std::chrono::steady_clock::now();
        if (fw_scan(static_cast<fw_op>(op), &a[m]) != FW_OK) st.SkipWithError("scan failed");
        const auto t1 = std::chrono::steady_clock::now();
        return std::chrono::duration<double, std::milli>(t1 - t0).count();
      },
      med);
  fw_set_num_threads(0);
  st.counters["auto_ms"] = med[0];
  st.counters["chunked_ms"] = med[1];
  st.counters["recurrent_ms"] = med[2];
  st.counters["auto_over_best"] = med[0] / std::min(med[1], med[2]);
  st.SetLabel(fw_backend_name(fw_get_backend()));
}

// One thread against the library's default thread count (args' threads),
// call by call in turn on the same inputs, on an idle machine or with a
// BusyCore competitor started for the row and stopped after it.
// Counters: the median ms of each (one_thread_ms, threads_ms) and
// threads_over_one = threads_ms / one_thread_ms (the target: at most 1.1
// contended, and the performance issues' scaling idle). The first calls of
// a contended row, before the threads have met the competitor, are not
// timed.
void BM_ThreadsPaired(benchmark::State& st, int op, int32_t mode, bool contended) {
  ScanProblem& p = problem(st);
  const fw_scan_args a = make_args(p, op, mode);
  const int counts[2] = {1, int(st.range(5))};
  std::unique_ptr<BusyCore> busy;
  if (contended) busy = std::make_unique<BusyCore>();
  auto call = [&](int threads) {
    fw_set_num_threads(threads);
    const auto t0 = std::chrono::steady_clock::now();
    if (fw_scan(static_cast<fw_op>(op), &a) != FW_OK) st.SkipWithError("scan failed");
    return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
  };
  for (double settled = 0; settled < 300.0;) settled += call(counts[1]);
  double med[2];
  medians_in_turn(
      st, [&](int m) { return call(counts[m]); }, med);
  fw_set_num_threads(0);
  st.counters["one_thread_ms"] = med[0];
  st.counters["threads_ms"] = med[1];
  st.counters["threads_over_one"] = med[1] / med[0];
  st.SetLabel(fw_backend_name(fw_get_backend()));
}

// Forward and backward of the same chunked scan, call by call in turn on the
// same inputs (the backward's target is a multiple of the forward's time in
// the same run). Counters: median ms of each, bwd_over_fwd their ratio, and
// tokens/s of the two together (a training step's scan). saved: the forward
// keeps its chunk boundaries' states (intermediate_states) and the backward
// reads them instead of recomputing them.
void BM_BackwardPaired(benchmark::State& st, int op, bool saved) {
  ScanProblem& p = problem(st);
  fw_scan_args fwd = make_args(p, op, FW_MODE_CHUNKED), bwd = fwd;
  Tensor inter;
  if (saved) {
    int64_t steps = 0;
    fw_intermediate_state_count(static_cast<fw_op>(op), &fwd, &steps);
    inter.resize(p.B * steps * p.HV * p.K * p.V);
    const int64_t isz[5] = {p.B, steps, p.HV, p.K, p.V};
    fw_tensor_contiguous(&fwd.intermediate_states, inter.data(), 5, isz);
  }
  // The backward reads the initial state as the forward did: keep it
  // (zeros), the same for every call.
  fwd.final_state.data = nullptr;
  Gradients grads;
  grads.attach(p, op_info(op), &bwd);
  bwd.intermediate_states = fwd.intermediate_states;
  fw_set_num_threads(int(st.range(5)));
  std::vector<double> ms[2];
  for (auto _ : st) {
    for (int i = 0; i < 2; ++i) {
      const auto t0 = std::chrono::steady_clock::now();
      const fw_status s = i == 0 ? fw_scan(static_cast<fw_op>(op), &fwd)
                                 : fw_scan_backward(static_cast<fw_op>(op), &bwd);
      const auto t1 = std::chrono::steady_clock::now();
      if (s != FW_OK) st.SkipWithError("scan failed");
      ms[i].push_back(std::chrono::duration<double, std::milli>(t1 - t0).count());
    }
    benchmark::ClobberMemory();
  }
  fw_set_num_threads(0);
  double med[2];
  for (int i = 0; i < 2; ++i) med[i] = median_ms(ms[i]);
  st.counters["fwd_ms"] = med[0];
  st.counters["bwd_ms"] = med[1];
  st.counters["bwd_over_fwd"] = med[1] / med[0];
  st.counters["tokens/s"] = double(p.B * p.T) / ((med[0] + med[1]) * 1e-3);
  st.SetLabel(fw_backend_name(fw_get_backend()));
}

void BM_BlasChunked(benchmark::State& st, int op) {
  ScanProblem& p = problem(st);
  const int threads = int(st.range(5));
  blas_set_single_threaded();
  for (auto _ : st) {
    if (op_info(op).has_beta)
      blas_chunked_delta_rule(p, peer_chunk_size(op, p.K), threads);
    else
      blas_chunked_linear_attn(p, peer_chunk_size(op, p.K), threads);
    benchmark::ClobberMemory();
  }
  set_counters(st, p, op, threads, fw_get_backend(), false);
  st.SetLabel("openblas");
}

#ifdef FW_BENCH_GGML
// Largest |ggml - fastweights| over the output and final state of the same
// inputs, relative to the largest |output|: the two must compute the same
// thing before their times mean anything.
double ggml_disagreement(const ScanProblem& p, const GgmlPeer& peer, fw_op op) {
  ScanProblem ours = p;
  fw_scan_args a = scan_args(ours, op, FW_MODE_CHUNKED, FW_CHUNK_SIZE_AUTO,
                             peer.state_v_first());  // ggml's state layout
  std::fill(ours.state.begin(), ours.state.end(), 0.0f);
  if (fw_scan(op, &a) != FW_OK) return INFINITY;
  double scale = 0, diff = 0;
  for (size_t i = 0; i < ours.o.size(); ++i) {
    scale = std::max(scale, double(std::fabs(ours.o[i])));
    diff = std::max(diff, double(std::fabs(ours.o[i] - peer.output()[i])));
  }
  for (size_t i = 0; i < ours.state.size(); ++i)
    diff = std::max(diff, double(std::fabs(ours.state[i] - peer.final_state()[i])));
  return diff / std::max(scale, 1e-30);
}

// Peer (d): ggml's op against chunk_<op>'s inputs (the gated delta rule,
// KDA through the delta net's per-key gate, GLA).
void BM_Ggml(benchmark::State& st, fw_op op) {
  ScanProblem& p = problem(st);
  const int threads = int(st.range(5));
  GgmlPeer peer(p, threads, op);
  if (!peer.run()) return st.SkipWithError("ggml failed");
  // Checked once per op and problem (the check runs our scan on a copy of it).
  static std::vector<int64_t> checked;
  static double disagreement = 0;
  const std::vector<int64_t> key = {op, p.B, p.T, p.H, p.HV, p.K};
  if (key != checked) disagreement = ggml_disagreement(p, peer, op);
  checked = key;
  if (!(disagreement < 1e-3)) return st.SkipWithError("ggml and fastweights disagree");
  for (auto _ : st) {
    peer.run();
    benchmark::ClobberMemory();
  }
  set_counters(st, p, op, threads, fw_get_backend(), p.T == 1);
  st.counters["rel_diff"] = disagreement;
  st.SetLabel("ggml");
}
#endif

using Shape = std::vector<int64_t>;  // B, T, H, HV, K, threads

// FW_BENCH_THREADS="1,2,4,8,16": the thread counts of the scaling set
// (empty: no scaling set).
std::vector<int> scaling_threads() {
  std::vector<int> out;
  const char* env = std::getenv("FW_BENCH_THREADS");
  std::istringstream in(env ? env : "");
  for (std::string t; std::getline(in, t, ',');)
    if (std::atoi(t.c_str()) > 0) out.push_back(std::atoi(t.c_str()));
  return out;
}

// Registers the shapes on a benchmark, with the suite's common settings.
void add(benchmark::internal::Benchmark* b, const std::vector<Shape>& shapes) {
  for (const Shape& s : shapes) b->Args(s);
  b->Unit(benchmark::kMillisecond)->UseRealTime()->MeasureProcessCPUTime();
}

void register_all(bool full) {
  std::vector<Shape> prefill = {{1, 4096, 16, 16, 128, 1},
                                {1, 4096, 16, 16, 128, 2},
                                {1, 8192, 1, 1, 128, 1},
                                {1, 8192, 1, 1, 128, 2},
                                {1, 2048, 16, 32, 128, 2}};
  std::vector<Shape> decode;
  for (int64_t B : {1, 8, 64})
    for (int64_t th : {1, 2}) decode.push_back({B, 1, 16, 32, 128, th});
  // The layer shapes of the models users run, one thread: Qwen3-Next
  // (H = 16, HV = 32) and Qwen3.5-0.8B (H = HV = 16), both gated delta rule.
  std::vector<Shape> models;
  for (int64_t B : {1, 4})
    for (int64_t T : {512, 4096})
      for (int64_t HV : {32, 16}) models.push_back({B, T, 16, HV, 128, 1});
  // Thread scaling on a many-core host, H = HV = 32 (FW_BENCH_THREADS).
  std::vector<Shape> scaling, scaling_decode;
  for (int th : scaling_threads()) {
    for (int64_t B : {1, 4}) scaling.push_back({B, 4096, 32, 32, 128, th});
    scaling_decode.push_back({64, 1, 16, 32, 128, th});
  }
  std::vector<Shape> crossover;  // where AUTO switches between the two forms
  for (int64_t T : {1, 2, 4, 8, 16, 64, 256, 1024}) crossover.push_back({1, T, 4, 4, 128, 1});
  if (full) {
    prefill.clear();
    for (int64_t B : {1, 4})
      for (int64_t T : {512, 2048, 8192})
        for (auto hh : {std::pair<int64_t, int64_t>{16, 32}, {16, 16}})
          for (int64_t K : {64, 128, 256})
            for (int64_t th : {1, 2}) prefill.push_back({B, T, hh.first, hh.second, K, th});
  }
  for (int op = 0; op < fw_op_count(); ++op) {
    const std::string n = op_name(op);
    add(benchmark::RegisterBenchmark(("chunk_" + n).c_str(), BM_Fastweights, op, FW_MODE_CHUNKED, 0,
                                     false),
        prefill);
    add(benchmark::RegisterBenchmark(("fused_recurrent_" + n + "/decode").c_str(), BM_Fastweights,
                                     op, FW_MODE_RECURRENT, 0, false),
        decode);
    // Serving engines' V-first state pools, on the largest decode batch.
    add(benchmark::RegisterBenchmark(("fused_recurrent_" + n + "/decode_v_first").c_str(),
                                     BM_Fastweights, op, FW_MODE_RECURRENT, 0, true),
        {{64, 1, 16, 32, 128, 1}, {64, 1, 16, 32, 128, 2}});
    // Half-precision q, k, v and o (g and beta fp32, as sglang passes them).
    for (const auto& half :
         {std::make_pair("bf16", FW_DTYPE_BF16), std::make_pair("f16", FW_DTYPE_F16)}) {
      add(benchmark::RegisterBenchmark(("chunk_" + n + "/" + half.first).c_str(),
                                       BM_FastweightsTyped, op, FW_MODE_CHUNKED, 0, false,
                                       half.second),
          {{1, 4096, 16, 16, 128, 1}});
      add(benchmark::RegisterBenchmark(("fused_recurrent_" + n + "/decode_" + half.first).c_str(),
                                       BM_FastweightsTyped, op, FW_MODE_RECURRENT, 0, false,
                                       half.second),
          {{64, 1, 16, 32, 128, 1}});
    }
    add(benchmark::RegisterBenchmark(("auto_" + n + "/crossover").c_str(), BM_AutoPaired, op),
        crossover);
    // Training: forward and backward on the backward's target shape, the
    // backward recomputing the chunk boundaries' states or reading the
    // forward's.
    for (bool saved : {false, true})
      benchmark::RegisterBenchmark(
          ("train_" + n + (saved ? "/backward_saved" : "/backward")).c_str(), BM_BackwardPaired, op,
          saved)
          ->Args({1, 4096, 16, 16, 128, 1})
          ->Iterations(3)
          ->Unit(benchmark::kMillisecond)
          ->UseRealTime();
    if (!scaling.empty()) {
      add(benchmark::RegisterBenchmark(("chunk_" + n + "/scaling").c_str(), BM_Fastweights, op,
                                       FW_MODE_CHUNKED, 0, false),
          scaling);
      add(benchmark::RegisterBenchmark(("fused_recurrent_" + n + "/decode_scaling").c_str(),
                                       BM_Fastweights, op, FW_MODE_RECURRENT, 0, false),
          scaling_decode);
    }
    if (op == FW_OP_GATED_DELTA_RULE)
      add(benchmark::RegisterBenchmark(("chunk_" + n + "/models").c_str(), BM_Fastweights, op,
                                       FW_MODE_CHUNKED, 0, false),
          models);
    // Peer (c): the portable backend on the target shape, one thread.
    add(benchmark::RegisterBenchmark(("scalar_chunk_" + n).c_str(), BM_Fastweights, op,
                                     FW_MODE_CHUNKED, kPeerScalar, false),
        {{1, 4096, 16, 16, 128, 1}});
  }
  // Threads on an idle machine and beside a competitor on one core, at the
  // default thread count: linear attention and the models' gated delta rule.
  const int64_t th = fw_get_num_threads();
  for (int op : {int(FW_OP_LINEAR_ATTN), int(FW_OP_GATED_DELTA_RULE)})
    for (bool contended : {false, true}) {
      const std::string n =
          std::string("threads_") + op_name(op) + (contended ? "/contended" : "/idle");
      add(benchmark::RegisterBenchmark((n + "_prefill").c_str(), BM_ThreadsPaired, op,
                                       FW_MODE_CHUNKED, contended),
          {{1, 4096, 16, 16, 128, th}, {1, 8192, 1, 1, 128, th}});
      add(benchmark::RegisterBenchmark((n + "_decode").c_str(), BM_ThreadsPaired, op,
                                       FW_MODE_RECURRENT, contended),
          {{1, 1, 16, 32, 128, th}, {8, 1, 16, 32, 128, th}, {64, 1, 16, 32, 128, th}});
    }
  add(benchmark::RegisterBenchmark("openblas_chunk_linear_attn", BM_BlasChunked,
                                   int(FW_OP_LINEAR_ATTN)),
      prefill);
  add(benchmark::RegisterBenchmark("openblas_chunk_delta_rule", BM_BlasChunked,
                                   int(FW_OP_DELTA_RULE)),
      prefill);
#ifdef FW_BENCH_GGML
  for (const auto& set : {std::make_pair("", prefill), std::make_pair("/decode", decode),
                          std::make_pair("/models", models), std::make_pair("/scaling", scaling)})
    if (!set.second.empty())
      add(benchmark::RegisterBenchmark((std::string("ggml_gated_delta_net") + set.first).c_str(),
                                       BM_Ggml, FW_OP_GATED_DELTA_RULE),
          set.second);
  // The per-key-gate ops, beside chunk_kda and chunk_gla.
  for (const auto& set : {std::make_pair("", prefill), std::make_pair("/decode", decode)})
    for (const auto& peer : {std::make_pair("ggml_gated_delta_net_kda", FW_OP_KDA),
                             std::make_pair("ggml_gated_linear_attn", FW_OP_GLA)})
      add(benchmark::RegisterBenchmark((std::string(peer.first) + set.first).c_str(), BM_Ggml,
                                       peer.second),
          set.second);
#endif
}

}  // namespace
}  // namespace fwbench

int main(int argc, char** argv) {
  using namespace fwbench;
  const bool console = console_format(argc, argv);
  benchmark::Initialize(&argc, argv);
  const fw_backend backend = fw_get_backend();
  benchmark::AddCustomContext("fastweights_version", fw_version_string());
  benchmark::AddCustomContext("fastweights_backend", fw_backend_name(backend));
  benchmark::AddCustomContext("cpu_model", cpu_model());
  benchmark::AddCustomContext("topology", topology());
  std::vector<int> threads = {1, 2};
  for (int th : scaling_threads())
    if (std::find(threads.begin(), threads.end(), th) == threads.end()) threads.push_back(th);
  for (int th : threads) {
    const std::string t = std::to_string(th);
    const FmaPeak peak = fma_peak(backend, th);
    benchmark::AddCustomContext("fma_peak_gflops_" + t + "t",
                                std::to_string(fma_peak_gflops(backend, th)));
    benchmark::AddCustomContext("fma_xsimd_gflops_" + t + "t", std::to_string(peak.xsimd));
    benchmark::AddCustomContext("fma_intrinsic_gflops_" + t + "t", std::to_string(peak.intrinsic));
    benchmark::AddCustomContext("copy_bw_gbs_" + t + "t", std::to_string(copy_bandwidth_gbs(th)));
  }
  const char* full = std::getenv("FW_BENCH_FULL");
  register_all(full && full[0] == '1');
  run_with_context_line(console);
  benchmark::Shutdown();
  return 0;
}
