// Many host threads calling at once (each with its own buffers, mixed ops,
// each call naming its own backend) while the library's own threads run
// inside every call; every result must equal, bit for bit, a serial run of
// the same call. Also threads kept busy by a competitor, and a fork.
#include <gtest/gtest.h>

#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <thread>
#include <vector>

#include "backward_problem.hpp"
#include "problem.hpp"

namespace fwtest {
namespace {

std::vector<fw_backend> supported_backends() {
  std::vector<fw_backend> out;
  for (int b = 1; b <= 4; ++b)
    if (fw_backend_is_supported(static_cast<fw_backend>(b)))
      out.push_back(static_cast<fw_backend>(b));
  return out;
}

Shape job_shape(int i) {
  const int64_t H = 1 + i % 2;
  Shape s =
      make_shape(all_ops()[i % all_ops().size()], i % 3 == 0 ? FW_MODE_RECURRENT : FW_MODE_CHUNKED,
                 2, 40 + 7 * (i % 5), H, 2 * H, 16 + i % 9, 8 + i % 13, i % 2 == 0);
  s.chunk = 16;
  return s;
}

TEST(Concurrency, HostThreadsMatchSerialRunsBitwise) {
  const std::vector<fw_backend> backends = supported_backends();
  constexpr int kJobs = 48, kHostThreads = 6;
  std::vector<std::unique_ptr<Problem>> serial, parallel;
  for (int i = 0; i < kJobs; ++i) {
    const fw_backend b = backends[i % backends.size()];
    serial.push_back(std::make_unique<Problem>(job_shape(i), i + 1));
    parallel.push_back(std::make_unique<Problem>(job_shape(i), i + 1));
    serial.back()->args.backend = parallel.back()->args.backend = b;
    ASSERT_EQ(serial.back()->run(), FW_OK);
  }
  fw_set_num_threads(2);  // the library's threads inside each call as well
  std::atomic<int> next{0}, failures{0};
  std::vector<std::thread> pool;
  for (int t = 0; t < kHostThreads; ++t)
    pool.emplace_back([&] {
      for (int i; (i = next.fetch_add(1)) < kJobs;)
        if (parallel[i]->run() != FW_OK) failures.fetch_add(1);
    });
  for (auto& th : pool) th.join();
  fw_set_num_threads(0);
  EXPECT_EQ(failures.load(), 0);
  for (int i = 0; i < kJobs; ++i) {
    const auto& a = *serial[i];
    const auto& b = *parallel[i];
    EXPECT_EQ(0, std::memcmp(a.o.data(), b.o.data(), a.o.size() * sizeof(float))) << "job " << i;
    EXPECT_EQ(
        0, std::memcmp(a.state_out.data(), b.state_out.data(), a.state_out.size() * sizeof(float)))
        << "job " << i;
  }
}

// Workspaces of 1 MB and more are kept between calls (src/workspace.cpp):
// host threads whose backward calls take and give back such blocks of
// different sizes at once each still get the serial run's bits.
TEST(Concurrency, KeptWorkspacesAcrossHostThreads) {
  constexpr int kHostThreads = 4;
  std::vector<std::unique_ptr<BackwardProblem>> serial, parallel;
  BackwardOptions o;
  for (fw_op op : all_ops())
    for (int64_t T : {600, 900}) {
      serial.push_back(std::make_unique<BackwardProblem>(op, 1, T, 1, 1, 128, 128, o, 31));
      parallel.push_back(std::make_unique<BackwardProblem>(op, 1, T, 1, 1, 128, 128, o, 31));
      serial.back()->args.mode = parallel.back()->args.mode = FW_MODE_CHUNKED;
      ASSERT_EQ(serial.back()->run(), FW_OK);
    }
  const int jobs = static_cast<int>(parallel.size());
  std::atomic<int> next{0}, failures{0};
  std::vector<std::thread> pool;
  for (int t = 0; t < kHostThreads; ++t)
    pool.emplace_back([&] {
      for (int i; (i = next.fetch_add(1)) < 2 * jobs;)
        if (parallel[i % jobs]->run() != FW_OK) failures.fetch_add(1);
    });
  for (auto& th : pool) th.join();
  EXPECT_EQ(failures.load(), 0);
  for (int i = 0; i < jobs; ++i) {
    const BackwardProblem& a = *serial[i];
    const BackwardProblem& b = *parallel[i];
    EXPECT_TRUE(same_bits(a.dq, b.dq) && same_bits(a.dk, b.dk) && same_bits(a.dv, b.dv) &&
                same_bits(a.dg, b.dg) && same_bits(a.dbeta, b.dbeta) && same_bits(a.dh0, b.dh0))
        << "job " << i;
  }
}

// fw_set_backend from one thread while others compute: each call reads the
// active backend once, so every call succeeds and nothing tears.
TEST(Concurrency, SwitchingTheActiveBackendDuringCalls) {
  const std::vector<fw_backend> backends = supported_backends();
  std::atomic<bool> stop{false};
  std::atomic<int> failures{0};
  std::thread switcher([&] {
    for (int i = 0; !stop.load(); ++i) fw_set_backend(backends[i % backends.size()]);
  });
  std::vector<std::thread> workers;
  for (int t = 0; t < 4; ++t)
    workers.emplace_back([&, t] {
      for (int i = 0; i < 20; ++i) {
        Problem p(job_shape(t * 20 + i));
        if (p.run() != FW_OK) failures.fetch_add(1);
      }
    });
  for (auto& w : workers) w.join();
  stop.store(true);
  switcher.join();
  fw_set_backend(FW_BACKEND_AUTO);
  EXPECT_EQ(failures.load(), 0);
}

// Threads that share their CPUs with busy competitors (more spinning
// threads than the machine has CPUs), so that the library's workers are
// descheduled in the middle of items and its callers hold off threading
// (src/team.cpp): every result still equals the serial run's, bit for bit.
TEST(Concurrency, BusyCompetitorsChangeNoBit) {
  std::vector<std::unique_ptr<Problem>> serial, busy;
  for (int i = 0; i < 24; ++i) {
    Shape s = job_shape(i);
    s.H = 1;  // one pair: its threads share value columns
    s.HV = i % 3 == 0 ? 1 : 4;
    serial.push_back(std::make_unique<Problem>(s, i + 1));
    busy.push_back(std::make_unique<Problem>(s, i + 1));
    fw_set_num_threads(1);
    ASSERT_EQ(serial.back()->run(), FW_OK);
  }
  std::atomic<bool> stop{false};
  std::vector<std::thread> competitors;
  const unsigned cpus = std::thread::hardware_concurrency();
  for (unsigned c = 0; c < (cpus > 0 ? cpus : 2); ++c)
    competitors.emplace_back([&] {
      while (!stop.load(std::memory_order_relaxed)) {
      }
    });
  fw_set_num_threads(4);
  int failures = 0;
  for (int round = 0; round < 3; ++round)
    for (auto& p : busy) failures += p->run() != FW_OK;
  fw_set_num_threads(0);
  stop.store(true);
  for (auto& th : competitors) th.join();
  EXPECT_EQ(failures, 0);
  for (size_t i = 0; i < busy.size(); ++i) {
    EXPECT_EQ(
        0, std::memcmp(serial[i]->o.data(), busy[i]->o.data(), serial[i]->o.size() * sizeof(float)))
        << "job " << i;
  }
}

// A child forked after the library's workers started has none of them: its
// calls start their own and compute the same bits.
TEST(Concurrency, ForkedChildComputesTheSame) {
  // qemu-user aborts when a forked child of a threaded guest starts threads
  // (its plugin and TCG asserts); scripts/test_emulated.sh says when it runs.
  if (std::getenv("FW_UNDER_QEMU_USER")) GTEST_SKIP() << "fork and threads under qemu-user";
  Problem parent(job_shape(5), 7);
  fw_set_num_threads(2);
  ASSERT_EQ(parent.run(), FW_OK);  // the workers exist now
  const pid_t pid = fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    Problem child(job_shape(5), 7);
    const bool same = child.run() == FW_OK && std::memcmp(child.o.data(), parent.o.data(),
                                                          child.o.size() * sizeof(float)) == 0;
    _exit(same ? 0 : 1);
  }
  int status = -1;
  ASSERT_EQ(waitpid(pid, &status, 0), pid);
  fw_set_num_threads(0);
  EXPECT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 0);
}

}  // namespace
}  // namespace fwtest
