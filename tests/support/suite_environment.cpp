// The environment of every test process, and so of every process a test starts (they
// inherit it; ChildProcess's extra_env can override single variables): the IMDS client's
// endpoint is a closed loopback port unless a test points it at its stand-in, and the
// suite marker makes the client abort rather than ever contact 169.254.169.254. ctest sets
// the same through the ENVIRONMENT property of every discovered test (tests/CMakeLists.txt);
// this covers running a test binary by hand. Linked into each test executable, not into the
// support library, so that no linker drops it.
#include <cstdlib>

namespace {

struct SuiteEnvironment {
  SuiteEnvironment() {
    ::setenv("REACHPROBE_TEST_SUITE", "1", 1);
    // Port 1 on loopback: nothing listens there, so a stray IMDS request is refused at once.
    ::setenv("AWS_EC2_METADATA_SERVICE_ENDPOINT", "http://127.0.0.1:1", 0);
  }
};

const SuiteEnvironment suite_environment;

}  // namespace
