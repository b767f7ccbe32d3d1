// Portable backend: every kernel instantiated over the one-float policy.
// Compiled at the baseline ISA; runs on any CPU.
#include "kernels/common/vec_scalar.hpp"
#include "kernels/delta_rule/chunk.hpp"
#include "kernels/delta_rule/recurrent.hpp"
#include "kernels/feature_maps/feature_maps.hpp"
#include "kernels/isa/backends.hpp"
#include "kernels/linear_attn/chunk.hpp"
#include "kernels/linear_attn/recurrent.hpp"

namespace fw {
namespace scalar {
namespace {
struct Tag {};  // internal linkage for every instantiation below
using Vec = ScalarVec<Tag>;
}  // namespace

const KernelTable* kernel_table() {
  static const KernelTable table = {
      &kern::linear_attn_recurrent<Vec>, &kern::linear_attn_chunk<Vec>,
      &kern::delta_rule_recurrent<Vec>,  &kern::delta_rule_chunk<Vec>,
      &kern::feature_map<Vec>,
  };
  return &table;
}

}  // namespace scalar
}  // namespace fw
