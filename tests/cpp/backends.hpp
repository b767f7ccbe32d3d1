// Tests run once per backend; a backend this CPU lacks is skipped visibly.
#pragma once

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "fastweights/fastweights.h"
#include "kernels/isa/isa_list.h"

namespace fwtest {

// Every backend of the ISA list (kernels/isa/isa_list.h), compiled here or not.
inline std::vector<fw_backend> all_backends() {
  std::vector<fw_backend> b;
#define FW_TEST_BACKEND(name, value, arch, flags, feature, widest) b.push_back(value);
  FW_ISA_LIST(FW_TEST_BACKEND)
#undef FW_TEST_BACKEND
  return b;
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
