#pragma once

#include <string>

namespace reachprobe::test {

// The daemon binary the integration tests start: this build's, or the one named by
// REACHPROBE_TEST_BINARY, so that one harness can drive a sanitizer build's daemon
// (scripts/sanitize.sh).
const std::string& reachprobe_binary();

// The source tree this build came from (configs, the chart, deploy/).
const std::string& source_dir();

}  // namespace reachprobe::test
