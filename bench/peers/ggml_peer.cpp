#include "bench/peers/ggml_peer.hpp"

#include <cstring>
#include <vector>

#include "ggml-cpu.h"
#include "ggml.h"

namespace fwbench {

struct GgmlGatedDeltaNet::Graph {
  ggml_context* ctx = nullptr;
  ggml_cgraph* graph = nullptr;
  ggml_tensor* out = nullptr;
  ggml_threadpool* pool = nullptr;
  ggml_cplan plan{};
  std::vector<uint8_t> work;
  Tensor q, k, state, result;  // widened q/k, zero state, ggml's output
  int64_t o_floats = 0;
};

GgmlGatedDeltaNet::GgmlGatedDeltaNet(const ScanProblem& p, int threads) : g_(new Graph) {
  Graph& g = *g_;
  // q/k with HV heads: head j holds fla's head j / (HV / H).
  const int64_t rows = p.B * p.T, group = p.HV / p.H;
  g.q.resize(rows * p.HV * p.K);
  g.k.resize(g.q.size());
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t j = 0; j < p.HV; ++j) {
      const int64_t src = (r * p.H + j / group) * p.K, dst = (r * p.HV + j) * p.K;
      std::memcpy(&g.q[dst], &p.q[src], p.K * sizeof(float));
      std::memcpy(&g.k[dst], &p.k[src], p.K * sizeof(float));
    }
  g.state.assign(p.B * p.HV * p.V * p.K, 0.0f);

  ggml_init_params params{};
  params.mem_size = 16 * ggml_tensor_overhead() + ggml_graph_overhead();
  params.no_alloc = true;  // every tensor's data is ours
  g.ctx = ggml_init(params);
  auto tensor = [&](int64_t n0, int64_t n1, const float* data) {
    ggml_tensor* t = ggml_new_tensor_4d(g.ctx, GGML_TYPE_F32, n0, n1, p.T, p.B);
    t->data = const_cast<float*>(data);
    return t;
  };
  ggml_tensor* q = tensor(p.K, p.HV, g.q.data());
  ggml_tensor* k = tensor(p.K, p.HV, g.k.data());
  ggml_tensor* v = tensor(p.V, p.HV, p.v.data());
  ggml_tensor* gate = tensor(1, p.HV, p.g.data());
  ggml_tensor* beta = tensor(1, p.HV, p.beta.data());
  ggml_tensor* s0 = ggml_new_tensor_4d(g.ctx, GGML_TYPE_F32, p.K, p.V, p.HV, p.B);  // V-first
  s0->data = g.state.data();
  g.out = ggml_gated_delta_net(g.ctx, q, k, v, gate, beta, s0, 1);
  g.result.resize(ggml_nbytes(g.out) / sizeof(float));
  g.out->data = g.result.data();
  g.o_floats = p.B * p.T * p.HV * p.V;
  g.graph = ggml_new_graph(g.ctx);
  ggml_build_forward_expand(g.graph, g.out);

  // One pool for every call, as llama.cpp keeps one (in ggml's OpenMP build
  // its threads are the OpenMP runtime's, which persist between calls).
  ggml_threadpool_params tp = ggml_threadpool_params_default(threads);
  g.pool = ggml_threadpool_new(&tp);
  g.plan = ggml_graph_plan(g.graph, threads, g.pool);
  g.work.resize(g.plan.work_size);
  g.plan.work_data = g.work.data();
}

GgmlGatedDeltaNet::~GgmlGatedDeltaNet() {
  ggml_threadpool_free(g_->pool);
  ggml_free(g_->ctx);
}

bool GgmlGatedDeltaNet::run() {
  return ggml_graph_compute(g_->graph, &g_->plan) == GGML_STATUS_SUCCESS;
}

const float* GgmlGatedDeltaNet::output() const { return g_->result.data(); }
const float* GgmlGatedDeltaNet::final_state() const { return g_->result.data() + g_->o_floats; }

}  // namespace fwbench
