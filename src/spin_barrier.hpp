// A barrier for the threads of one OpenMP team that spins, then yields,
// instead of sleeping. The few-pairs path of src/scan.cpp meets one barrier
// per group of chunks, tens of microseconds apart; libgomp's barriers
// sometimes put a thread to sleep there, and waking it is slow on this
// 2-vCPU VM. Linear attention at T = 8192, H = 1, K = V = 128, chunk 32, two
// threads (AVX-512), five runs alternated with the `omp for` version:
// 7.47, 6.06, 6.15, 5.99, 5.89 ms against 7.97, 14.3, 6.01, 6.62, 5.65 ms.
#pragma once

#include <atomic>
#include <thread>

namespace fw {

inline void cpu_relax() {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#elif defined(__aarch64__)
  asm volatile("yield");
#endif
}

class SpinBarrier {
 public:
  // Not thread-safe: call before the team first waits.
  void reset(int threads) {
    threads_ = threads;
    count_.store(0, std::memory_order_relaxed);
  }

  // Returns once all threads have called wait(); everything a thread wrote
  // before the call is visible to every thread after it.
  void wait() {
    const unsigned generation = generation_.load(std::memory_order_acquire);
    if (count_.fetch_add(1, std::memory_order_acq_rel) + 1 == threads_) {
      count_.store(0, std::memory_order_relaxed);
      generation_.store(generation + 1, std::memory_order_release);
      return;
    }
    // Spin a little (a barrier here waits microseconds), then yield, so that
    // a thread that lacks a CPU gets one. With 16384 spins before yielding,
    // three or more threads on two CPUs ran 3x slower than one thread (T =
    // 8192, H = 1: linear attention 25 vs 8 ms); with 256, 6-8 ms, and two
    // threads on two CPUs no slower (medians 5.57 vs 6.33 ms, alternated).
    for (int spins = 0; generation_.load(std::memory_order_acquire) == generation; ++spins) {
      if (spins < kSpinsBeforeYield)
        cpu_relax();
      else
        std::this_thread::yield();
    }
  }

 private:
  static constexpr int kSpinsBeforeYield = 256;
  int threads_ = 1;
  std::atomic<int> count_{0};
  std::atomic<unsigned> generation_{0};
};

}  // namespace fw
