// The console header of the benchmark, its provenance said plainly.
//
// Debian's Google Benchmark package is compiled without NDEBUG, so the stock
// console header warns "***WARNING*** Library was built as DEBUG. Timings may
// be affected." before every table. That concerns the timing library's own
// bookkeeping between timed batches (the timed loop is inlined into this
// Release, -O3 binary), and it read to users as if fastweights itself were a
// debug build. This header prints the machine and build facts instead, with
// one line that says what the library's build type is and what it touches.
#pragma once

namespace fwbench {

// benchmark::RunSpecifiedBenchmarks with that header on the console (the
// stock reporters where --benchmark_format asks for json or csv). argv is
// main's, before benchmark::Initialize consumed its flags.
void run_with_context_line(bool console);
bool console_format(int argc, char** argv);

}  // namespace fwbench
