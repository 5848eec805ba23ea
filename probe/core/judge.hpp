#pragma once

#include "probe/core/probe_result.hpp"
#include "probe/core/target.hpp"

namespace reachprobe {

// A prober's result judged against what its target expects (`expect: closed`), done once
// where results leave the probers (the scheduler, `check`), so that every consumer reads
// the same ok() and the same outcome. A dns target's expectation applies to the addresses
// it connects to: the name must still resolve for the connects to say anything.
void judge(const Target& target, ProbeResult& result);

}  // namespace reachprobe
