// Linked into each test executable: every call takes the thread count the
// test sets (src/team.cpp, FASTWEIGHTS_ALWAYS_THREAD), so that the threaded
// paths run whatever the shape's size or the machine's load. Set before
// main, ahead of the library's first call, which reads it once; a value
// from the environment is kept.
#include <cstdlib>

namespace {
const int kAlwaysThread = setenv("FASTWEIGHTS_ALWAYS_THREAD", "1", /*overwrite=*/0);
}  // namespace
