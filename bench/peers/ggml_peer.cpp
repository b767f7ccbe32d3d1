#include "bench/peers/ggml_peer.hpp"

#include <cmath>
#include <cstring>
#include <vector>

#include "ggml-cpu.h"
#include "ggml.h"

namespace fwbench {

struct GgmlPeer::Graph {
  ggml_context* ctx = nullptr;
  ggml_cgraph* graph = nullptr;
  ggml_tensor* out = nullptr;
  ggml_threadpool* pool = nullptr;
  ggml_cplan plan{};
  std::vector<uint8_t> work;
  Tensor q, k, state, result;  // widened q/k, zero state, ggml's output
  Tensor decay;                // GLA: exp(g), the factor ggml's GLA takes
  int64_t o_floats = 0;
  bool v_first = true;
};

GgmlPeer::GgmlPeer(ScanProblem& p, int threads, fw_op op) : g_(new Graph) {
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
  // [n0, n1, T, B] tensors of the delta net; GLA takes [n0, n1, B * T].
  const bool gla = op == FW_OP_GLA;
  auto tensor = [&](int64_t n0, int64_t n1, const float* data) {
    ggml_tensor* t = gla ? ggml_new_tensor_3d(g.ctx, GGML_TYPE_F32, n0, n1, p.B * p.T)
                         : ggml_new_tensor_4d(g.ctx, GGML_TYPE_F32, n0, n1, p.T, p.B);
    t->data = const_cast<float*>(data);
    return t;
  };
  ggml_tensor* q = tensor(p.K, p.HV, g.q.data());
  ggml_tensor* k = tensor(p.K, p.HV, g.k.data());
  ggml_tensor* v = tensor(p.V, p.HV, p.v.data());
  if (gla) {
    // ggml's GLA multiplies by g itself: the decay, not its log.
    const float* log_decay = p.channel_gates();
    g.decay.resize(p.B * p.T * p.HV * p.K);
    for (size_t i = 0; i < g.decay.size(); ++i) g.decay[i] = std::exp(log_decay[i]);
    ggml_tensor* s0 = ggml_new_tensor_2d(g.ctx, GGML_TYPE_F32, p.K * p.V * p.HV, p.B);
    s0->data = g.state.data();
    g.out = ggml_gated_linear_attn(g.ctx, k, v, q, tensor(p.K, p.HV, g.decay.data()), s0,
                                   1.0f / std::sqrt(float(p.K)));
    g.v_first = false;  // state [B, HV, K, V]
  } else {
    const bool per_key = op == FW_OP_KDA;
    ggml_tensor* gate =
        per_key ? tensor(p.K, p.HV, p.channel_gates()) : tensor(1, p.HV, p.g.data());
    ggml_tensor* beta = tensor(1, p.HV, p.beta.data());
    ggml_tensor* s0 = ggml_new_tensor_4d(g.ctx, GGML_TYPE_F32, p.K, p.V, p.HV, p.B);  // V-first
    s0->data = g.state.data();
    g.out = ggml_gated_delta_net(g.ctx, q, k, v, gate, beta, s0, 1);
  }
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

GgmlPeer::~GgmlPeer() {
  ggml_threadpool_free(g_->pool);
  ggml_free(g_->ctx);
}

bool GgmlPeer::run() { return ggml_graph_compute(g_->graph, &g_->plan) == GGML_STATUS_SUCCESS; }

const float* GgmlPeer::output() const { return g_->result.data(); }
const float* GgmlPeer::final_state() const { return g_->result.data() + g_->o_floats; }
bool GgmlPeer::state_v_first() const { return g_->v_first; }

}  // namespace fwbench
