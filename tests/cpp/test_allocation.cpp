// Workspace allocation, observed through an interposed aligned_alloc (the
// library's only allocator; this executable's definition takes precedence
// over libc's for every shared object). Separate executable: the interposer
// must not disturb the other tests.
#include <gtest/gtest.h>

#include <malloc.h>

#include <atomic>
#include <cstdlib>

#include "backward_problem.hpp"
#include "problem.hpp"

namespace {
std::atomic<int> g_calls{0};
std::atomic<bool> g_fail{false};
}  // namespace

extern "C" void* aligned_alloc(size_t alignment, size_t size) {
  g_calls.fetch_add(1);
  if (g_fail.load()) return nullptr;
  return memalign(alignment, size);
}

namespace fwtest {
namespace {

const auto& kOps = all_ops();

Shape shape(fw_op op, int64_t T, int32_t mode) {
  return make_shape(op, mode, 2, T, 1, 2, 16, 16, true);
}

// Threads 1 and 2 take the one-pair-per-thread path (4 pairs); 8 threads
// the path for fewer pairs than threads (src/scan.cpp).
const int kThreadCounts[] = {1, 2, 8};

// One workspace allocation per call, whatever T: nothing allocates per token.
TEST(Allocation, OnePerCallIndependentOfLength) {
  for (int threads : kThreadCounts) {
    fw_set_num_threads(threads);
    for (fw_op op : kOps)
      for (int32_t mode : {FW_MODE_CHUNKED, FW_MODE_RECURRENT})
        for (int64_t T : {1, 10, 1000}) {
          Problem p(shape(op, T, mode));
          const int before = g_calls.load();
          ASSERT_EQ(p.run(), FW_OK);
          EXPECT_EQ(g_calls.load() - before, 1)
              << op_name(op) << " T=" << T << " threads " << threads;
        }
  }
  fw_set_num_threads(0);
}

// The backward too: one workspace per call, chunked or token by token, and
// on a failed allocation FW_ERR_OUT_OF_MEMORY with every gradient untouched.
TEST(Allocation, BackwardOnePerCallAndFailureWritesNothing) {
  for (int threads : kThreadCounts) {
    fw_set_num_threads(threads);
    for (fw_op op : kOps)
      for (int32_t mode : {FW_MODE_CHUNKED, FW_MODE_RECURRENT})
        for (int64_t T : {1, 10, 1000}) {
          BackwardOptions o;
          BackwardProblem bp(op, 2, T, 1, 2, 16, 16, o, 3);
          bp.args.mode = mode;
          const int before = g_calls.load();
          ASSERT_EQ(bp.run(), FW_OK);
          EXPECT_EQ(g_calls.load() - before, 1)
              << op_name(op) << " T=" << T << " threads " << threads;
          if (T != 10) continue;
          BackwardProblem fail(op, 2, T, 1, 2, 16, 16, o, 3);
          fail.args.mode = mode;
          g_fail = true;
          const fw_status s = fail.run();
          g_fail = false;
          EXPECT_EQ(s, FW_ERR_OUT_OF_MEMORY);
          for (const std::vector<float>* y :
               {&fail.dq, &fail.dk, &fail.dv, &fail.dg, &fail.dbeta, &fail.dh0})
            for (float e : *y) ASSERT_EQ(e, BackwardProblem::kSentinel);
        }
  }
  fw_set_num_threads(0);
}

// A large workspace (here the backward's chunk states, over the 1 MB that
// src/workspace.cpp keeps) is kept for the next call: that call allocates
// nothing, and a block left dirty by a call on other inputs gives the same
// bits.
TEST(Allocation, LargeWorkspaceKeptAndReusedWithTheSameBits) {
  BackwardOptions o;
  auto grads = [&](fw_op op, uint32_t seed, int* allocations) {
    BackwardProblem bp(op, 1, 1000, 1, 1, 128, 128, o, seed);
    bp.args.mode = FW_MODE_CHUNKED;
    const int before = g_calls.load();
    EXPECT_EQ(bp.run(), FW_OK) << op_name(op);
    if (allocations) *allocations = g_calls.load() - before;
    return std::vector<std::vector<float>>{bp.dq, bp.dk, bp.dv, bp.dg, bp.dbeta, bp.dh0};
  };
  int first = 0, again = 0;
  for (fw_op op : kOps) {
    const auto fresh = grads(op, 3, &first);
    grads(op, 5, nullptr);  // other inputs: leaves the block dirty
    const auto reused = grads(op, 3, &again);
    EXPECT_LE(first, 1) << op_name(op);
    EXPECT_EQ(again, 0) << op_name(op);
    for (size_t i = 0; i < fresh.size(); ++i)
      EXPECT_TRUE(same_bits(fresh[i], reused[i])) << op_name(op) << " gradient " << i;
  }
}

TEST(Allocation, FailureReturnsOutOfMemoryAndWritesNothing) {
  for (int threads : kThreadCounts) {
    fw_set_num_threads(threads);
    for (fw_op op : kOps) {
      Problem p(shape(op, 50, FW_MODE_CHUNKED));
      g_fail = true;
      const fw_status s = p.run();
      g_fail = false;
      EXPECT_EQ(s, FW_ERR_OUT_OF_MEMORY) << op_name(op) << " threads " << threads;
      for (float e : p.o) ASSERT_EQ(e, Problem::kSentinel);
      for (float e : p.state_out) ASSERT_EQ(e, Problem::kSentinel);
    }
  }
  fw_set_num_threads(0);
  std::vector<float> x(16, 1.0f), out(64, -1.0f);
  fw_feature_map_args a;
  fw_feature_map_args_init(&a);
  a.kind = FW_FEATURE_FAVOR_PLUS;
  a.rows = 2;
  a.dim = 8;
  a.num_features = 32;
  const int64_t in_sizes[2] = {2, 8}, out_sizes[2] = {2, 32};
  fw_tensor_contiguous(&a.x, x.data(), 2, in_sizes);
  fw_tensor_contiguous(&a.out, out.data(), 2, out_sizes);
  g_fail = true;
  EXPECT_EQ(fw_feature_map(&a), FW_ERR_OUT_OF_MEMORY);
  EXPECT_EQ(fw_favor_plus_projection(8, 32, 1, out.data()), FW_ERR_OUT_OF_MEMORY);
  g_fail = false;
  for (float e : out) ASSERT_EQ(e, -1.0f);
  EXPECT_EQ(fw_feature_map(&a), FW_OK);
}

}  // namespace
}  // namespace fwtest
