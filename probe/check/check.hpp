#pragma once

#include <boost/asio/io_context.hpp>
#include <string>
#include <vector>

#include "probe/aws/node_facts.hpp"
#include "probe/core/duration_text.hpp"
#include "probe/core/endpoint.hpp"
#include "probe/core/probe_result.hpp"
#include "probe/probers/prober_set.hpp"

namespace reachprobe {

struct CheckRow {
  Endpoint endpoint;
  ProbeResult result;
  std::string hint;
};

// One round of `endpoints`, all concurrently, each bounded by its target's timeout; rows
// come back in the order given. Runs `io` until the last probe is done.
// `facts` (this node's IMDS facts, or null) make the hints name security-group ids.
std::vector<CheckRow> run_check(boost::asio::io_context& io, const ProberSet& probers,
                                const std::vector<Endpoint>& endpoints,
                                const aws::NodeFacts* facts = nullptr);

// A table for an 80-column terminal; failures get their message and hint underneath.
std::string format_check_table(const std::vector<CheckRow>& rows, std::size_t width = 80);
// `{"results": [...], "ok": N, "failed": N}` as SPEC.md describes; `extra_members`, if
// given, are further members after "results" (e.g. `"remediation": {...}`).
std::string format_check_json(const std::vector<CheckRow>& rows,
                              std::string_view extra_members = {});

}  // namespace reachprobe
