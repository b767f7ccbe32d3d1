// Overflow-checked arithmetic on tensor layouts, used by argument checks.
#pragma once

#include <cstdint>

namespace fw {

// r = a * b or a + b; false on int64 overflow.
inline bool mul_ok(int64_t a, int64_t b, int64_t* r) { return !__builtin_mul_overflow(a, b, r); }
inline bool add_ok(int64_t a, int64_t b, int64_t* r) { return !__builtin_add_overflow(a, b, r); }

// A strided view: n <= 5 dims (outermost first), sizes >= 1, strides in
// elements.
struct Layout {
  int n;
  int64_t size[5];
  int64_t stride[5];
};

// Elements spanned: 1 + sum (size_i - 1) * stride_i. False on overflow or if
// the byte span does not fit in the address space.
bool layout_span(const Layout& l, int64_t elem_bytes, int64_t* span);

// True when no two index tuples map to the same element (needed for outputs).
// Sufficient test: sorted by stride, each stride reaches past everything
// spanned by the dimensions inside it.
bool layout_is_injective(const Layout& l);

// Byte ranges [a, a + an) and [b, b + bn) intersect.
inline bool ranges_overlap(const void* a, int64_t an, const void* b, int64_t bn) {
  const uintptr_t pa = reinterpret_cast<uintptr_t>(a), pb = reinterpret_cast<uintptr_t>(b);
  return pa < pb + static_cast<uintptr_t>(bn) && pb < pa + static_cast<uintptr_t>(an);
}

}  // namespace fw
