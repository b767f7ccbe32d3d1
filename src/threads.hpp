// Thread count for every call: set by fw_set_num_threads, else the default.
#pragma once

namespace fw {
int num_threads();
void set_num_threads(int n);
// Physical cores (hwloc) unless FASTWEIGHTS_NUM_THREADS / OMP_NUM_THREADS
// say otherwise; computed once.
int default_num_threads();
}  // namespace fw
