#include "src/layout.hpp"

namespace fw {

bool layout_span(const Layout& l, int64_t elem_bytes, int64_t* span) {
  int64_t last = 0;
  for (int i = 0; i < l.n; ++i) {
    int64_t step = 0;
    if (!mul_ok(l.size[i] - 1, l.stride[i], &step) || !add_ok(last, step, &last)) return false;
  }
  int64_t bytes = 0;
  if (!add_ok(last, 1, &last) || !mul_ok(last, elem_bytes, &bytes)) return false;
  if (static_cast<uint64_t>(bytes) > (UINTPTR_MAX >> 1)) return false;
  *span = last;
  return true;
}

bool layout_is_injective(const Layout& l) {
  // Insertion sort of the dims that have more than one index, by stride.
  int order[5];
  int m = 0;
  for (int i = 0; i < l.n; ++i) {
    if (l.size[i] <= 1) continue;
    int j = m++;
    while (j > 0 && l.stride[order[j - 1]] > l.stride[i]) {
      order[j] = order[j - 1];
      --j;
    }
    order[j] = i;
  }
  int64_t extent = 1;  // elements spanned by the dims already placed
  for (int j = 0; j < m; ++j) {
    const int d = order[j];
    if (l.stride[d] < extent) return false;
    int64_t step = 0;
    if (!mul_ok(l.size[d] - 1, l.stride[d], &step) || !add_ok(extent, step, &extent)) return false;
  }
  return true;
}

}  // namespace fw
