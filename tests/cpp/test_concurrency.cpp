// Many host threads calling at once (each with its own buffers, mixed ops,
// each call naming its own backend) while OpenMP runs inside every call;
// every result must equal, bit for bit, a serial run of the same call.
#include <gtest/gtest.h>

#include <atomic>
#include <cstring>
#include <memory>
#include <thread>
#include <vector>

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
  fw_set_num_threads(2);  // OpenMP inside each call as well
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

}  // namespace
}  // namespace fwtest
