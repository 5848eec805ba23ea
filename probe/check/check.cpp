#include "probe/check/check.hpp"

#include <fmt/chrono.h>
#include <fmt/format.h>

#include <algorithm>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <exception>

#include "probe/check/hints.hpp"
#include "probe/core/judge.hpp"
#include "probe/log/logging.hpp"

namespace reachprobe {

namespace asio = boost::asio;

namespace {

asio::awaitable<void> probe_once(Prober& prober, CheckRow& row, std::size_t& remaining,
                                 asio::io_context& io, const aws::NodeFacts* facts) {
  const auto started = Clock::now();
  try {
    row.result =
        co_await prober.probe(row.endpoint, Deadline{started + row.endpoint.target->timeout});
  } catch (const std::exception& e) {
    row.result.outcome = Outcome::Error;
    row.result.message = std::string("internal error: ") + e.what();
  }
  judge(*row.endpoint.target, row.result);
  row.hint = hint_for(row.endpoint, row.result, facts);
  // c-ares may still hold timers for abandoned queries: the round is over when the last
  // probe is, not when the io_context runs dry.
  if (--remaining == 0) io.stop();
}

// What the probe proved beyond its result word (probe/core/finding.hpp), for scripts that
// must not parse the message; null when it proved nothing more.
std::string finding_json(Finding finding) {
  switch (finding) {
    case Finding::None: return "null";
    case Finding::NoReadyEndpoints: return "\"no_ready_endpoints\"";
    case Finding::MtuBlackHole: return "\"mtu_black_hole\"";
    case Finding::ControlPlaneCannotRoute: return "\"control_plane_cannot_route\"";
    case Finding::NoResponseHeaders: return "\"no_response_headers\"";
  }
  return "null";
}

std::string fit(std::string_view text, std::size_t width) {
  if (text.size() <= width) return std::string(text);
  if (width <= 1) return std::string(text.substr(0, width));
  return std::string(text.substr(0, width - 1)) + "~";
}

// Greedy word wrap with a hanging indent.
void wrap(std::string& out, std::string_view label, std::string_view text, std::size_t width) {
  const std::string indent(4 + label.size() + 2, ' ');
  std::string line = "    " + std::string(label) + ": ";
  std::size_t pos = 0;
  bool first_word = true;
  while (pos < text.size()) {
    auto end = text.find(' ', pos);
    if (end == std::string_view::npos) end = text.size();
    auto word = text.substr(pos, end - pos);
    if (!first_word && line.size() + 1 + word.size() > width) {
      out += line + "\n";
      line = indent;
      first_word = true;
    }
    if (!first_word) line += ' ';
    line += word;
    first_word = false;
    pos = end + 1;
  }
  out += line + "\n";
}

std::string json_string(std::string_view s) { return "\"" + log::json_escape(s) + "\""; }

std::string json_number(Duration d) {
  return fmt::format("{:.6f}", std::chrono::duration<double>(d).count());
}

}  // namespace

std::vector<CheckRow> run_check(asio::io_context& io, const ProberSet& probers,
                                const std::vector<Endpoint>& endpoints,
                                const aws::NodeFacts* facts) {
  std::vector<CheckRow> rows;
  rows.reserve(endpoints.size());
  for (const auto& e : endpoints) rows.push_back(CheckRow{e, {}, {}});

  std::size_t remaining = 0;
  for (auto& row : rows) {
    auto prober = probers.find(row.endpoint.type());
    if (prober == nullptr) {
      row.result.outcome = Outcome::Error;
      row.result.message =
          fmt::format("type {} is not supported by this build", to_string(row.endpoint.type()));
      continue;
    }
    ++remaining;
    asio::co_spawn(io, probe_once(*prober, row, remaining, io, facts), asio::detached);
  }
  if (remaining > 0) {
    io.restart();
    io.run();
  }
  // Addresses a probe fanned out to get their own rows, right under their parent.
  std::vector<CheckRow> out;
  out.reserve(rows.size());
  for (auto& row : rows) {
    auto fanout = std::move(row.result.fanout);
    const auto target = row.endpoint.target;
    out.push_back(std::move(row));
    for (auto& f : fanout) {
      CheckRow child{Endpoint{target, f.host, f.port, join_host_port(f.host, f.port)},
                     std::move(f.result),
                     {}};
      child.hint = hint_for(child.endpoint, child.result, facts);
      out.push_back(std::move(child));
    }
  }
  return out;
}

std::string format_check_table(const std::vector<CheckRow>& rows, std::size_t width) {
  // Fixed caps keep a row within 80 columns; what does not fit is cut with "~".
  std::size_t w_target = 6, w_endpoint = 8, w_address = 7;
  for (const auto& r : rows) {
    w_target = std::max(w_target, r.endpoint.target_name().size());
    w_endpoint = std::max(w_endpoint, r.endpoint.label.size());
    w_address = std::max(w_address, r.result.address.size());
  }
  w_target = std::min<std::size_t>(w_target, 18);
  w_endpoint = std::min<std::size_t>(w_endpoint, 26);
  w_address = std::min<std::size_t>(w_address, 15);
  constexpr std::size_t w_result = 11;

  std::string out =
      fmt::format("{:<{}} {:<{}} {:<{}} {:<{}} {:>8}\n", "TARGET", w_target, "ENDPOINT", w_endpoint,
                  "ADDRESS", w_address, "RESULT", w_result, "LATENCY");
  std::size_t ok = 0;
  for (const auto& r : rows) {
    if (r.result.ok()) ++ok;
    auto total = r.result.phase(Phase::Total);
    out +=
        fmt::format("{:<{}} {:<{}} {:<{}} {:<{}} {:>8}\n", fit(r.endpoint.target_name(), w_target),
                    w_target, fit(r.endpoint.label, w_endpoint), w_endpoint,
                    fit(r.result.address.empty() ? "-" : r.result.address, w_address), w_address,
                    to_string(r.result.outcome), w_result, total ? format_latency(*total) : "-");
    if (!r.result.ok()) {
      if (!r.result.message.empty()) wrap(out, "why", r.result.message, width);
      if (!r.hint.empty()) wrap(out, "fix", r.hint, width);
      // An ok probe's message says so; a failed one's is about the failure.
      if (r.result.fanout_cut && r.result.fanout_cut->default_bound) {
        wrap(out, "note",
             fmt::format("connected to {} of {} addresses (the default bound; max_connect sets "
                         "another, up to {})",
                         r.result.fanout_cut->connected, r.result.fanout_cut->addresses,
                         kMaxConnectLimit),
             width);
      }
    } else if (!r.result.message.empty()) {
      // What an ok probe found out, e.g. which name a dns probe's search domains reached.
      wrap(out, "got", r.result.message, width);
    }
  }
  out += fmt::format("{} endpoints: {} ok, {} failed", rows.size(), ok, rows.size() - ok);
  // The vantage is the config's: one for every row.
  if (!rows.empty())
    out += fmt::format(" (vantage {})", to_string(rows.front().endpoint.target->vantage));
  out += '\n';
  return out;
}

std::string format_check_json(const std::vector<CheckRow>& rows, std::string_view extra_members) {
  std::string out = "{\"results\": [";
  std::size_t ok = 0;
  for (std::size_t i = 0; i < rows.size(); ++i) {
    const auto& r = rows[i];
    if (r.result.ok()) ++ok;
    if (i) out += ",";
    out += "\n  {";
    out += "\"target\": " + json_string(r.endpoint.target_name());
    out += ", \"type\": " + json_string(to_string(r.endpoint.type()));
    out += ", \"endpoint\": " + json_string(r.endpoint.label);
    out += ", \"address\": " +
           (r.result.address.empty() ? std::string("null") : json_string(r.result.address));
    out += ", \"result\": " + json_string(to_string(r.result.outcome));
    out += ", \"vantage\": " + json_string(to_string(r.endpoint.target->vantage));
    out += ", \"expect\": " + json_string(to_string(r.endpoint.target->expectation));
    // The judged success (a closed path's timeout is one), as the exit status counts it.
    out += fmt::format(", \"success\": {}", r.result.ok());
    auto total = r.result.phase(Phase::Total);
    out += ", \"duration_seconds\": " + (total ? json_number(*total) : std::string("null"));
    out += ", \"phases\": {";
    bool first = true;
    for (Phase p : kAllPhases) {
      auto d = r.result.phase(p);
      if (!d) continue;
      if (!first) out += ", ";
      first = false;
      out += json_string(to_string(p)) + ": " + json_number(*d);
    }
    out += "}";
    if (r.result.http_status) out += fmt::format(", \"http_status\": {}", *r.result.http_status);
    if (r.result.cert_not_after) {
      out +=
          fmt::format(", \"cert_not_after\": \"{:%Y-%m-%dT%H:%M:%SZ}\"",
                      fmt::gmtime(std::chrono::system_clock::to_time_t(*r.result.cert_not_after)));
    }
    if (const auto& cut = r.result.fanout_cut) {
      out += fmt::format(
          ", \"fanout_cut\": {{\"addresses\": {}, \"connected\": {}, \"bound\": \"{}\"}}",
          cut->addresses, cut->connected, cut->default_bound ? "default" : "max_connect");
    }
    out += ", \"message\": " + json_string(r.result.message);
    out += ", \"finding\": " + finding_json(r.result.finding);
    out += ", \"hint\": " + json_string(r.hint);
    out += "}";
  }
  out += "\n]";
  if (!extra_members.empty()) {
    out += ", ";
    out += extra_members;
  }
  out += fmt::format(", \"ok\": {}, \"failed\": {}}}\n", ok, rows.size() - ok);
  return out;
}

}  // namespace reachprobe
