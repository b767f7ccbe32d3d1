// The kernel table of one vector policy: every kernel of the library
// instantiated over Vec, and the ISA file's AUTO switch. Included once by
// each kernels/isa/<isa>.cpp, whose Vec carries a tag from that file's
// anonymous namespace.
#pragma once

#include "kernels/backward/chunk_backward.hpp"
#include "kernels/backward/scan_backward.hpp"
#include "kernels/delta_rule/chunk.hpp"
#include "kernels/delta_rule/recurrent.hpp"
#include "kernels/feature_maps/feature_maps.hpp"
#include "kernels/kernel_table.hpp"
#include "kernels/linear_attn/chunk.hpp"
#include "kernels/linear_attn/recurrent.hpp"

namespace fw {
namespace kern {

// constexpr, and so is each ISA file's table: dispatch/ asks every
// compiled backend for its table before it knows whether the CPU runs it,
// so building one must execute no code of that ISA (a table initialised at
// run time copied itself with AVX-512 moves: SIGILL under valgrind).
template <class Vec>
constexpr KernelTable table(const AutoSwitch& auto_switch, const ThreadFloors& thread_floors) {
  return {
      {
          {&linear_attn_recurrent<Vec>, &linear_attn_prepare<Vec>, &linear_attn_advance<Vec>},
          {&delta_rule_recurrent<Vec>, &delta_rule_prepare<Vec>, &delta_rule_advance<Vec>},
      },
      &scan_backward<Vec>,
      &scan_backward_chunked<Vec>,
      &scan_backward_qk<Vec>,
      &feature_map<Vec>,
      &feature_map_backward<Vec>,
      &chunk::transpose<Vec>,
      &chunk::stream_rows<Vec>,
      auto_switch,
      thread_floors,
  };
}

}  // namespace kern
}  // namespace fw
