// First use of the library from many threads at once, in a fresh process:
// the lazy backend choice, CPU detection and default thread count must be
// initialised once, and every thread must see the same backend.
#include <atomic>
#include <cstdio>
#include <thread>
#include <vector>

#include "fastweights/fastweights.h"

int main() {
  constexpr int kThreads = 16;
  std::atomic<int> ready{0};
  std::vector<int> seen(kThreads, -1), status(kThreads, -1), threads(kThreads, -1);
  std::vector<std::thread> pool;
  for (int t = 0; t < kThreads; ++t)
    pool.emplace_back([&, t] {
      ready.fetch_add(1);
      while (ready.load() < kThreads) {
      }
      float q[4] = {1, 0, 0, 1}, v[4] = {1, 2, 3, 4}, o[4];
      fw_scan_args a;
      fw_scan_args_init(&a);
      a.batch = a.num_heads = a.num_value_heads = 1;
      a.seq_len = 2;
      a.head_dim_k = a.head_dim_v = 2;
      const int64_t sizes[4] = {1, 2, 1, 2};
      fw_tensor_contiguous(&a.q, q, 4, sizes);
      fw_tensor_contiguous(&a.k, q, 4, sizes);
      fw_tensor_contiguous(&a.v, v, 4, sizes);
      fw_tensor_contiguous(&a.o, o, 4, sizes);
      status[t] = fw_linear_attn(&a);
      seen[t] = fw_get_backend();
      threads[t] = fw_get_num_threads();
    });
  for (auto& th : pool) th.join();
  int bad = 0;
  for (int t = 0; t < kThreads; ++t)
    bad += status[t] != FW_OK || seen[t] != seen[0] || threads[t] != threads[0];
  std::printf("first-call race: %d threads, backend %s, %d mismatches\n", kThreads,
              fw_backend_name(static_cast<fw_backend>(seen[0])), bad);
  return bad ? 1 : 0;
}
