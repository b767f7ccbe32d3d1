#include "bench/console_context.hpp"

#include <benchmark/benchmark.h>
#include <unistd.h>

#include <cstring>
#include <ostream>

#include "bench/machine/machine.hpp"
#include "fastweights/fastweights.h"

namespace fwbench {
namespace {

class ProvenanceReporter : public benchmark::ConsoleReporter {
 public:
  explicit ProvenanceReporter(OutputOptions opts) : ConsoleReporter(opts) {}

  bool ReportContext(const Context& context) override {
    name_field_width_ = context.name_field_width;  // what the stock header also sets
    printed_header_ = false;
    prev_counters_.clear();
    std::ostream& out = GetOutputStream();
    out << "CPU: " << cpu_model() << "; " << topology() << "\n"
        << "fastweights " << fw_version_string() << ", backend "
        << fw_backend_name(fw_get_backend()) << ", " << FW_BENCH_BUILD_TYPE << " build\n"
        << "Timing: Google Benchmark " << FW_BENCH_BENCHMARK_VERSION
        << " as packaged by Debian, compiled without NDEBUG (its stock header calls it a DEBUG "
           "build): that adds its own checks between timed batches, not to the calls timed\n";
    return true;
  }
};

}  // namespace

bool console_format(int argc, char** argv) {
  const char flag[] = "--benchmark_format=";
  bool console = true;
  for (int i = 1; i < argc; ++i)
    if (std::strncmp(argv[i], flag, sizeof flag - 1) == 0)
      console = std::strcmp(argv[i] + sizeof flag - 1, "console") == 0;
  return console;
}

void run_with_context_line(bool console) {
  if (!console) {
    benchmark::RunSpecifiedBenchmarks();
    return;
  }
  ProvenanceReporter reporter(isatty(STDOUT_FILENO) ? benchmark::ConsoleReporter::OO_Color
                                                    : benchmark::ConsoleReporter::OO_None);
  benchmark::RunSpecifiedBenchmarks(&reporter);
}

}  // namespace fwbench
