// One kernel_table() per compiled ISA file, each in its own namespace.
#pragma once

#include "kernels/kernel_table.hpp"

namespace fw {
namespace scalar {
const KernelTable* kernel_table();
}
namespace avx2 {
const KernelTable* kernel_table();
}
namespace avx512 {
const KernelTable* kernel_table();
}
namespace neon {
const KernelTable* kernel_table();
}
}  // namespace fw
