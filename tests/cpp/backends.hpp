// Tests run once per backend; a backend this CPU lacks is skipped visibly.
#pragma once

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "fastweights/fastweights.h"

namespace fwtest {

inline std::vector<fw_backend> all_backends() {
  return {FW_BACKEND_SCALAR, FW_BACKEND_AVX2, FW_BACKEND_AVX512, FW_BACKEND_NEON};
}

// Forces the backend for the test's lifetime; restores the default after.
class BackendScope {
 public:
  explicit BackendScope(fw_backend b) : ok_(fw_set_backend(b) == FW_OK) {}
  ~BackendScope() { fw_set_backend(FW_BACKEND_AUTO); }
  bool ok() const { return ok_; }

 private:
  bool ok_;
};

#define FW_USE_BACKEND_OR_SKIP(b)                                                    \
  ::fwtest::BackendScope backend_scope_(b);                                          \
  if (!backend_scope_.ok()) {                                                        \
    GTEST_SKIP() << "backend " << fw_backend_name(b)                                 \
                 << (fw_backend_is_compiled(b) ? " not supported by this CPU"        \
                                               : " not compiled into this library"); \
  }                                                                                  \
  ASSERT_EQ(fw_get_backend(), (b))

}  // namespace fwtest
