// Every scan x {chunked, recurrent} against the double reference, over
// shapes that hit chunk and vector tails (docs/design.md, "Testing"), on every backend.
#include <gtest/gtest.h>

#include <cstdio>
#include <cstdlib>
#include <sstream>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include "backends.hpp"
#include "problem.hpp"

namespace fwtest {
namespace {

// Relative max error allowed (< 1e-5 for T <= 1000, unit keys: the README's promise).
constexpr double kTol = 1e-5;

std::vector<Shape> accuracy_shapes() {
  struct Variant {
    fw_op op;
    uint32_t flags;
  };
  const Variant variants[] = {{FW_OP_LINEAR_ATTN, 0},
                              {FW_OP_LINEAR_ATTN, FW_FLAG_NORMALIZE},
                              {FW_OP_SIMPLE_GLA, 0},
                              {FW_OP_DELTA_RULE, 0},
                              {FW_OP_DELTA_RULE, FW_FLAG_QK_L2NORM},
                              {FW_OP_GATED_DELTA_RULE, 0},
                              {FW_OP_GATED_DELTA_RULE, FW_FLAG_QK_L2NORM},
                              {FW_OP_GLA, 0},
                              {FW_OP_KDA, 0},
                              {FW_OP_KDA, FW_FLAG_QK_L2NORM}};
  const int64_t Ts[] = {1, 2, 63, 64, 65, 1000};
  const int64_t KVs[][2] = {{1, 1}, {7, 16}, {16, 7}, {64, 64}, {100, 128}, {128, 100}, {256, 256}};
  std::vector<Shape> out;
  int i = 0;
  for (const Variant& var : variants)
    for (int64_t T : Ts)
      for (const auto& kv : KVs) {
        if (T * kv[0] * kv[1] > 1000 * 128 * 128) continue;  // keeps the run to seconds
        for (int32_t mode : {FW_MODE_CHUNKED, FW_MODE_RECURRENT}) {
          Shape s;
          s.op = var.op;
          s.flags = var.flags;
          s.T = T;
          s.K = kv[0];
          s.V = kv[1];
          s.mode = mode;
          const bool small = T * kv[0] * kv[1] <= 65 * 64 * 64;
          s.B = small ? 2 : 1;
          s.H = small && i % 2 ? 2 : 1;  // H/HV = 2/4 and 1/1 alternate
          s.HV = small && i % 2 ? 4 : 1;
          s.bhtd = i % 3 == 1;
          s.initial_state = i % 2 == 0;
          out.push_back(s);
          ++i;
        }
      }
  // Packed variable-length batches, an empty sequence among them.
  for (const Variant& var : variants)
    for (int64_t T : {2, 70, 200})
      for (int32_t mode : {FW_MODE_CHUNKED, FW_MODE_RECURRENT}) {
        Shape s;
        s.op = var.op;
        s.flags = var.flags;
        s.T = T;
        s.H = 2;
        s.HV = 4;
        s.K = 16;
        s.V = 24;
        s.mode = mode;
        s.cu_seqlens = true;
        s.initial_state = T != 70;
        s.bhtd = T == 200;
        out.push_back(s);
      }
  // The largest head sizes we promise (512), beside tiny ones.
  for (const Variant& var : variants)
    for (const auto& kv : {std::pair<int64_t, int64_t>{512, 33}, {3, 512}, {512, 512}})
      for (int32_t mode : {FW_MODE_CHUNKED, FW_MODE_RECURRENT}) {
        Shape s;
        s.op = var.op;
        s.flags = var.flags;
        s.T = kv.first == kv.second ? 9 : 65;
        s.K = kv.first;
        s.V = kv.second;
        s.mode = mode;
        s.chunk = 8;
        s.initial_state = true;
        out.push_back(s);
      }
  // Chunk sizes that divide nothing.
  for (const Variant& var : variants)
    for (int64_t chunk : {1, 7, 16, 64, 100}) {
      Shape s;
      s.op = var.op;
      s.flags = var.flags;
      s.T = 130;
      s.K = 20;
      s.V = 9;
      s.mode = FW_MODE_CHUNKED;
      s.chunk = chunk;
      s.initial_state = true;
      out.push_back(s);
    }
  return out;
}

std::string shape_name(const Shape& s) {
  std::ostringstream n;
  n << op_name(s.op) << (s.flags & FW_FLAG_NORMALIZE ? "_norm" : "")
    << (s.flags & FW_FLAG_QK_L2NORM ? "_l2" : "") << "_B" << s.B << "_T" << s.T << "_H" << s.H
    << "_HV" << s.HV << "_K" << s.K << "_V" << s.V << (s.bhtd ? "_bhtd" : "_bthd")
    << (s.initial_state ? "_init" : "") << (s.cu_seqlens ? "_cu" : "")
    << (s.mode == FW_MODE_CHUNKED ? "_chunk" : "_recur") << s.chunk;
  return n.str();
}

using Param = std::tuple<fw_backend, Shape>;

class ScanAccuracy : public ::testing::TestWithParam<Param> {};

TEST_P(ScanAccuracy, MatchesDoubleReference) {
  FW_USE_BACKEND_OR_SKIP(std::get<0>(GetParam()));
  const Shape& s = std::get<1>(GetParam());
  Problem p(s);
  ASSERT_EQ(p.run(), FW_OK);
  const RefResult ref = p.reference();
  EXPECT_LT(rel_max_error(ref.o, p.o_contiguous()), kTol) << "output";
  EXPECT_LT(rel_max_error(ref.state, p.state_out), kTol) << "final state";
  if (s.flags & FW_FLAG_NORMALIZE) {
    EXPECT_LT(rel_max_error(ref.norm, p.norm_out), kTol) << "normaliser state";
  }
}

// Gates as strong as Kimi's per channel and Qwen3-Next's per head, and
// beyond: g anywhere in [lo, 0] for lo down to -20, with some channels (or
// tokens) that never decay (g = 0) and some that decay fully within a chunk
// (g = lo), over several chunks; chunked (at chunks of 16 and 32: the
// per-channel scores' blocks left of the diagonal then meet decays of every
// size, chunk_ops.hpp) and recurrent, every backend, at the same tolerance
// as the other ops; K = 64 and 128 also take AVX-512's per-channel walk with
// its rows held in registers. FW_PRINT_ERRORS=1 prints the errors.
class StrongGates : public ::testing::TestWithParam<std::tuple<fw_backend, fw_op, int32_t>> {};

TEST_P(StrongGates, MatchDoubleReference) {
  FW_USE_BACKEND_OR_SKIP(std::get<0>(GetParam()));
  for (const float lo : {-0.5f, -5.0f, -20.0f})
    for (const int64_t chunk : {16, 32})
      for (const int64_t K : {64, 128}) {
        SCOPED_TRACE("gates in [" + std::to_string(lo) + ", 0], chunk " + std::to_string(chunk) +
                     ", K " + std::to_string(K));
        Shape s = make_shape(std::get<1>(GetParam()), std::get<2>(GetParam()), 1, 100, 2, 2, K, 32,
                             /*initial_state=*/true);
        s.chunk = chunk;
        Problem p(s);
        std::mt19937 rng(7);
        std::uniform_real_distribution<float> strong(lo, 0.0f);
        for (size_t i = 0; i < p.g.size(); ++i) {
          const int64_t channel = static_cast<int64_t>(i) % s.K;
          p.g[i] = channel % 8 == 0 ? 0.0f : channel % 8 == 1 ? lo : strong(rng);
        }
        ASSERT_EQ(p.run(), FW_OK);
        const RefResult ref = p.reference();
        EXPECT_LT(rel_max_error(ref.o, p.o_contiguous()), kTol) << "output";
        EXPECT_LT(rel_max_error(ref.state, p.state_out), kTol) << "final state";
        if (std::getenv("FW_PRINT_ERRORS"))
          std::printf("%s lo %g chunk %ld K %ld: output %.3g, state %.3g\n",
                      op_name(std::get<1>(GetParam())), lo, long(chunk), long(K),
                      rel_max_error(ref.o, p.o_contiguous()),
                      rel_max_error(ref.state, p.state_out));
      }
}

INSTANTIATE_TEST_SUITE_P(All, StrongGates,
                         ::testing::Combine(::testing::ValuesIn(all_backends()),
                                            ::testing::Values(FW_OP_SIMPLE_GLA,
                                                              FW_OP_GATED_DELTA_RULE, FW_OP_GLA,
                                                              FW_OP_KDA),
                                            ::testing::Values(FW_MODE_CHUNKED, FW_MODE_RECURRENT)),
                         [](const auto& info) {
                           return std::string(fw_backend_name(std::get<0>(info.param))) + "_" +
                                  op_name(std::get<1>(info.param)) +
                                  (std::get<2>(info.param) == FW_MODE_CHUNKED ? "_chunk"
                                                                              : "_recur");
                         });

INSTANTIATE_TEST_SUITE_P(All, ScanAccuracy,
                         ::testing::Combine(::testing::ValuesIn(all_backends()),
                                            ::testing::ValuesIn(accuracy_shapes())),
                         [](const ::testing::TestParamInfo<Param>& info) {
                           return std::string(fw_backend_name(std::get<0>(info.param))) + "_" +
                                  shape_name(std::get<1>(info.param));
                         });

}  // namespace
}  // namespace fwtest
