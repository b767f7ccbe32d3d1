// Portable backend: every kernel over the one-float policy, compiled at the
// baseline ISA; runs on any CPU.
#include "kernels/common/vec_scalar.hpp"
#include "kernels/isa/backends.hpp"
#include "kernels/isa/table.hpp"

namespace fw {
namespace scalar {
namespace {
struct Tag {};  // gives every instantiation below internal linkage
using Vec = ScalarVec<Tag>;
}  // namespace

const KernelTable* kernel_table() { return kern::table<Vec>(); }

}  // namespace scalar
}  // namespace fw
