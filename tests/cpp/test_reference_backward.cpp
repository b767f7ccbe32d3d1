// The backward's reference (reference_backward.hpp) before any kernel is
// held to it: its gradients against central differences of its own forward
// for every op and option it takes, and that forward against
// reference.hpp's, which the forward kernels are held to.
#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <string>
#include <vector>

#include "problem.hpp"
#include "reference_backward.hpp"

namespace fwtest {
namespace {

GradProblem grad_problem(fw_op op, bool l2, bool normalize, uint32_t seed) {
  GradProblem p;
  p.op = op;
  p.B = 2;
  p.T = 6;
  p.H = 1;
  p.HV = 2;  // two value heads share a q/k head: dq and dk sum over them
  p.K = 3;
  p.V = 2;
  p.l2 = l2;
  p.normalize = normalize;
  p.eps = 1e-3;
  std::mt19937 rng(seed);
  std::uniform_real_distribution<double> u(-1, 1), pos(0.1, 1), gate(-1.5, -0.05),
      strength(0.1, 0.9);
  auto fill = [&](std::vector<double>& x, int64_t n, std::uniform_real_distribution<double>& d) {
    x.resize(n);
    for (double& e : x) e = d(rng);
  };
  fill(p.q, p.B * p.T * p.H * p.K, normalize ? pos : u);
  fill(p.k, p.B * p.T * p.H * p.K, normalize ? pos : u);
  fill(p.v, p.B * p.T * p.HV * p.V, u);
  if (is_gated(op)) fill(p.g, p.B * p.T * p.HV * (is_channel_gated(op) ? p.K : 1), gate);
  if (is_delta(op)) fill(p.beta, p.B * p.T * p.HV, strength);
  fill(p.S0, p.B * p.HV * p.K * p.V, u);
  return p;
}

double loss(const GradProblem& p, const std::vector<double>& dout, const std::vector<double>& dht) {
  std::vector<double> o, ST;
  forward_double(p, &o, &ST);
  double l = 0;
  for (size_t i = 0; i < o.size(); ++i) l += dout[i] * o[i];
  for (size_t i = 0; i < ST.size(); ++i) l += dht[i] * ST[i];
  return l;
}

// max |a - b| / max |b|
double rel(const std::vector<double>& a, const std::vector<double>& b) {
  double num = 0, den = 0;
  for (size_t i = 0; i < b.size(); ++i) {
    num = std::max(num, std::fabs(a[i] - b[i]));
    den = std::max(den, std::fabs(b[i]));
  }
  return den > 0 ? num / den : num;
}

TEST(ReferenceBackward, MatchesCentralDifferences) {
  struct Case {
    fw_op op;
    bool l2, normalize;
  };
  std::vector<Case> cases;
  for (fw_op op : all_ops()) {
    cases.push_back({op, false, false});
    cases.push_back({op, true, false});
  }
  cases.push_back({FW_OP_LINEAR_ATTN, false, true});
  for (const Case& c : cases) {
    SCOPED_TRACE(std::string(op_name(c.op)) + (c.l2 ? " l2" : "") +
                 (c.normalize ? " normalize" : ""));
    GradProblem p = grad_problem(c.op, c.l2, c.normalize, 11);
    std::mt19937 rng(3);
    std::uniform_real_distribution<double> u(-1, 1);
    std::vector<double> dout(p.B * p.T * p.HV * p.V), dht(p.B * p.HV * p.K * p.V);
    for (double& e : dout) e = u(rng);
    for (double& e : dht) e = u(rng);
    const Grads d = backward_double(p, dout, dht);
    struct Input {
      const char* name;
      std::vector<double>* x;
      const std::vector<double>* grad;
    };
    const Input inputs[] = {{"q", &p.q, &d.dq}, {"k", &p.k, &d.dk},          {"v", &p.v, &d.dv},
                            {"g", &p.g, &d.dg}, {"beta", &p.beta, &d.dbeta}, {"S0", &p.S0, &d.dh0}};
    for (const Input& in : inputs) {
      if (in.x->empty()) continue;
      std::vector<double> fd(in.x->size());
      for (size_t i = 0; i < fd.size(); ++i) {
        const double x = (*in.x)[i], h = 1e-5 * std::max(1.0, std::fabs(x));
        (*in.x)[i] = x + h;
        const double up = loss(p, dout, dht);
        (*in.x)[i] = x - h;
        const double down = loss(p, dout, dht);
        (*in.x)[i] = x;
        fd[i] = (up - down) / (2 * h);
      }
      EXPECT_LT(rel(*in.grad, fd), 1e-6) << "d" << in.name;
    }
  }
}

// forward_double is reference.hpp's forward: the same outputs and states
// for the same (float) inputs.
TEST(ReferenceBackward, ForwardIsTheForwardReference) {
  for (fw_op op : all_ops())
    for (bool l2 : {false, true}) {
      SCOPED_TRACE(std::string(op_name(op)) + (l2 ? " l2" : ""));
      Shape s = make_shape(op, FW_MODE_RECURRENT, 2, 6, 1, 2, 3, 2, /*initial_state=*/true);
      if (l2) s.flags |= FW_FLAG_QK_L2NORM;
      Problem f(s, 9);
      const RefResult want = f.reference();
      GradProblem p;
      p.op = op;
      p.B = s.B;
      p.T = s.T;
      p.H = s.H;
      p.HV = s.HV;
      p.K = s.K;
      p.V = s.V;
      p.l2 = l2;
      p.q.assign(f.q.begin(), f.q.end());
      p.k.assign(f.k.begin(), f.k.end());
      p.v.assign(f.v.begin(), f.v.end());
      p.g.assign(f.g.begin(), f.g.end());
      p.beta.assign(f.beta.begin(), f.beta.end());
      p.S0.assign(f.state_in.begin(), f.state_in.end());
      std::vector<double> o, ST;
      forward_double(p, &o, &ST);
      EXPECT_LT(rel(o, want.o), 1e-12);
      EXPECT_LT(rel(ST, want.state), 1e-12);
    }
}

}  // namespace
}  // namespace fwtest
