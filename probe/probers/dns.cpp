#include "probe/probers/dns.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <cctype>
#include <exception>
#include <map>
#include <stdexcept>

#include "probe/core/duration_text.hpp"
#include "probe/core/rendezvous.hpp"
#include "probe/dns/ares_channel.hpp"
#include "probe/dns/message.hpp"
#include "probe/dns/query.hpp"
#include "probe/probers/connect.hpp"

namespace reachprobe {

namespace asio = boost::asio;
using asio::ip::address;
using asio::ip::tcp;

namespace {

// Records listed in a message; the rest is counted, so a big answer keeps `check` readable.
constexpr std::size_t kListedRecords = 8;
// How long after the deadline the fan-out may still be finishing before the probe gives up
// on it: connects are bounded by the deadline themselves, this only guards against a bug
// leaving a probe hanging forever.
constexpr auto kFanOutGrace = std::chrono::seconds(1);

std::string lowercase_without_root_dot(std::string_view text) {
  if (text.ends_with('.')) text.remove_suffix(1);
  std::string out(text);
  std::transform(out.begin(), out.end(), out.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return out;
}

std::string without_root_dot(std::string name) {
  if (name.size() > 1 && name.back() == '.') name.pop_back();
  return name;
}

// The IP of the only server in "127.0.0.1:53" / "[::1]:53" form (AresChannel::servers());
// empty for several, where c-ares does not tell which one answered.
std::string single_server_ip(const std::string& servers) {
  if (servers.empty() || servers.find(',') != std::string::npos) return {};
  std::string host;
  if (servers.front() == '[') {
    host = servers.substr(1, servers.find(']') - 1);
  } else {
    host = servers.substr(0, servers.rfind(':'));
  }
  boost::system::error_code ec;
  asio::ip::make_address(host, ec);
  return ec ? std::string() : host;
}

std::string records_noun(std::size_t count, std::uint16_t type) {
  return fmt::format("{} {} record{}", count, dns::record_type_name(type), count == 1 ? "" : "s");
}

std::string list_records(const std::vector<const dns::Record*>& records) {
  std::string out;
  for (std::size_t i = 0; i < records.size() && i < kListedRecords; ++i) {
    if (i) out += ", ";
    out += records[i]->text;
  }
  if (records.size() > kListedRecords) {
    out += fmt::format(" and {} more", records.size() - kListedRecords);
  }
  return out.empty() ? "nothing" : out;
}

// " via CNAME a -> b" when the answer went through aliases, so an operator sees which
// name really holds the records.
std::string alias_chain(const dns::Reply& reply) {
  if (reply.question_type == static_cast<std::uint16_t>(dns::RecordType::CNAME)) return {};
  std::string out;
  for (const auto& record : reply.answers) {
    if (record.type != static_cast<std::uint16_t>(dns::RecordType::CNAME)) continue;
    out += out.empty() ? " via CNAME " : " -> ";
    out += record.target_name;
  }
  return out;
}

std::string joined(const std::vector<std::string>& names) {
  std::string out;
  for (const auto& name : names) {
    if (!out.empty()) out += ", ";
    out += without_root_dot(name);
  }
  return out;
}

// Whether `wanted`, as written under expect.contains, names `record`: an IP equal to the
// address, or (case-insensitive, trailing dot or not) the whole record text or the name in
// it, so an SRV record matches "am-0.test" as well as "10 5 9093 am-0.test".
bool record_matches(const dns::Record& record, const std::string& wanted) {
  boost::system::error_code ec;
  if (record.address) {
    auto parsed = asio::ip::make_address(wanted, ec);
    if (!ec) return parsed == *record.address;
  }
  const auto key = lowercase_without_root_dot(wanted);
  return key == lowercase_without_root_dot(record.text) ||
         (!record.target_name.empty() && key == lowercase_without_root_dot(record.target_name));
}

// The first expectation of `expect` the records miss, as "expected ..., got ...".
std::optional<std::string> unmet_expectation(const DnsExpect& expect,
                                             const std::vector<const dns::Record*>& records,
                                             std::uint16_t type, const std::string& name) {
  if (expect.min_answers && records.size() < *expect.min_answers) {
    return fmt::format("expected at least {} for {}, got {}: {}",
                       records_noun(*expect.min_answers, type), name, records.size(),
                       list_records(records));
  }
  std::vector<std::string> missing;
  for (const auto& wanted : expect.contains) {
    if (std::none_of(records.begin(), records.end(),
                     [&](const dns::Record* r) { return record_matches(*r, wanted); })) {
      missing.push_back(wanted);
    }
  }
  if (missing.empty()) return std::nullopt;
  return fmt::format("expected the {} records of {} to contain {}, got: {}",
                     dns::record_type_name(type), name, joined(missing), list_records(records));
}

// What a dns probe found out from DNS, before any connect.
struct DnsFinding {
  std::vector<address> addresses;  // of the A/AAAA records, for connect_port
};

// The outcome and message of a reply (or of its absence) into `result`.
DnsFinding interpret(const dns::RawReply& raw, const std::string& query, std::uint16_t type,
                     const std::vector<std::string>& tried, const std::string& servers,
                     const Target& target, ProbeResult& result) {
  const std::string type_name = dns::record_type_name(type);
  auto fail = [&](Outcome outcome, std::string message) {
    result.outcome = outcome;
    result.message = std::move(message);
    return DnsFinding{};
  };
  // Names a failed search went through, for the message: the operator sees the search
  // domains that were appended.
  const std::string tried_text =
      tried.size() > 1 ? fmt::format("; tried {}", joined(tried)) : std::string();

  if (raw.deadline_passed) {
    return fail(Outcome::DnsTimeout,
                fmt::format("no DNS reply from {} for {} {} within {}", servers, query, type_name,
                            format_latency(raw.latency)));
  }

  std::optional<dns::Reply> reply;
  if (!raw.message.empty()) {
    auto parsed = dns::parse_reply(raw.message.data(), raw.message.size());
    if (!parsed.reply) {
      return fail(Outcome::Error, fmt::format("unreadable DNS reply from {} for {}: {}", servers,
                                              query, parsed.error));
    }
    reply = std::move(parsed.reply);
  }
  // The name that was answered: with search domains, not necessarily the one configured.
  const std::string name =
      reply && !reply->question.empty() ? reply->question : without_root_dot(query);

  switch (raw.status) {
    case ARES_SUCCESS:
      break;
    case ARES_ENODATA:
      result.answers = 0;
      return fail(Outcome::NoAnswer,
                  fmt::format("{} has no {} record (empty NOERROR answer from {}{})", name,
                              type_name, servers, tried_text));
    case ARES_ENOTFOUND:
      result.answers = 0;
      return fail(Outcome::NxDomain,
                  fmt::format("{} does not exist (NXDOMAIN from {}{})", name, servers, tried_text));
    case ARES_ESERVFAIL:
      result.answers = 0;
      return fail(Outcome::ServFail, fmt::format("{} answered SERVFAIL for {} {}{}", servers, name,
                                                 type_name, tried_text));
    case ARES_EREFUSED:
      result.answers = 0;
      return fail(Outcome::DnsRefused,
                  fmt::format("{} refused the query for {} {}", servers, name, type_name));
    case ARES_ETIMEOUT:
      return fail(Outcome::DnsTimeout,
                  fmt::format("no DNS reply from {} for {} {} (c-ares retries exhausted)", servers,
                              name, type_name));
    case ARES_ECONNREFUSED:
      return fail(Outcome::DnsTimeout,
                  fmt::format("no DNS reply from {} for {} {}: port unreachable (connection "
                              "refused)",
                              servers, name, type_name));
    case ARES_EDESTRUCTION:
    case ARES_ECANCELLED:
      return fail(Outcome::Error, fmt::format("dns prober shut down while asking for {}", name));
    default:
      return fail(Outcome::Error, fmt::format("asking {} for {} {} failed: {}", servers, name,
                                              type_name, ares_strerror(raw.status)));
  }
  if (!reply) {
    return fail(Outcome::Error, fmt::format("no DNS reply data from {} for {}", servers, name));
  }

  const auto records = reply->of_asked_type();
  result.answers = records.size();
  if (records.empty()) {
    // NOERROR with answers, none of the asked type: e.g. only a CNAME to a name without it.
    return fail(Outcome::NoAnswer, fmt::format("{} has no {} record{} (NOERROR from {})", name,
                                               type_name, alias_chain(*reply), servers));
  }
  DnsFinding finding;
  for (const auto* record : records) {
    if (record->address && std::find(finding.addresses.begin(), finding.addresses.end(),
                                     *record->address) == finding.addresses.end()) {
      finding.addresses.push_back(*record->address);
    }
  }
  if (auto unmet = unmet_expectation(target.expect, records, type, name)) {
    result.outcome = Outcome::Error;
    result.message = std::move(*unmet);
    return finding;
  }
  result.outcome = Outcome::Ok;
  result.message = fmt::format("{} for {}{}: {}", records_noun(records.size(), type), name,
                               alias_chain(*reply), list_records(records));
  return finding;
}

// The fan-out of one probe: every connect writes its own slot, the last one to finish
// wakes the probe.
struct FanOut {
  explicit FanOut(const asio::any_io_executor& executor) : all_done(executor) {}
  std::vector<FanOutResult> results;
  std::size_t remaining = 0;
  asio::steady_timer all_done;
};

asio::awaitable<void> connect_one(std::shared_ptr<FanOut> fanout, std::size_t index,
                                  tcp::endpoint peer, Deadline deadline) {
  ProbeResult& result = fanout->results[index].result;
  const auto start = Clock::now();
  co_await connect_and_close(peer, deadline, result);
  result.set_phase(Phase::Total, since(start));
}

// Connects to every address at once, each bounded by `deadline`; results in address order.
asio::awaitable<std::vector<FanOutResult>> connect_to_all(asio::io_context& io,
                                                          const std::vector<address>& addresses,
                                                          std::uint16_t port, Deadline deadline) {
  asio::any_io_executor executor = io.get_executor();
  auto state = std::make_shared<FanOut>(executor);
  for (const auto& a : addresses) {
    state->results.push_back(FanOutResult{a.to_string(), port, {}});
  }
  state->remaining = addresses.size();

  for (std::size_t i = 0; i < addresses.size(); ++i) {
    asio::co_spawn(executor, connect_one(state, i, tcp::endpoint(addresses[i], port), deadline),
                   [state, i](const std::exception_ptr& error) {
                     if (error) {
                       auto& result = state->results[i].result;
                       result.outcome = Outcome::Error;
                       try {
                         std::rethrow_exception(error);
                       } catch (const std::exception& e) {
                         result.message = std::string("internal error: ") + e.what();
                       } catch (...) {
                         result.message = "internal error";
                       }
                     }
                     if (--state->remaining == 0) state->all_done.cancel();
                   });
  }

  state->all_done.expires_at(deadline.at + kFanOutGrace);
  while (state->remaining > 0) {
    boost::system::error_code ec;
    co_await state->all_done.async_wait(asio::redirect_error(asio::use_awaitable, ec));
    if (!ec) break;  // the grace period is over
  }
  auto results = state->results;  // a copy: a straggler may still write into `state`
  if (state->remaining > 0) {
    for (auto& f : results) {
      if (f.result.phase(Phase::Total)) continue;
      f.result.outcome = Outcome::Error;
      f.result.message = fmt::format("connect to {} did not finish after the deadline",
                                     join_host_port(f.host, f.port));
    }
  }
  co_return results;
}

// The AAAA query of a parallel_aaaa probe, running beside the A query.
struct ParallelReply {
  explicit ParallelReply(const asio::any_io_executor& executor) : done(executor) {}
  std::optional<dns::RawReply> reply;
  asio::steady_timer done;
};

struct ChannelEntry {
  std::shared_ptr<dns::AresChannel> channel;
  std::vector<std::string> search_domains;
  int ndots = 1;
};

// What a probe needs before it sends its query, taken from the prober while it surely exists.
struct QueryPlan {
  std::string query;  // as sent: the PTR query of an IP literal is its reverse name
  std::uint16_t type = 0;
  std::weak_ptr<dns::AresChannel> channel;
  std::string servers;             // as named in messages
  std::vector<std::string> tried;  // the names a search goes through
  std::string node_name;
  // The prober's, on which the probe runs too; it outlives the prober and every probe.
  asio::io_context* io_context = nullptr;
  std::string error;  // why no query can be made, when not empty
};

// The AAAA query a parallel_aaaa probe sent beside its A query: any reply will do (an
// IPv4-only name answers it empty), none is the failure glibc would stall on. The A
// query's failure, if any, is told first.
void judge_parallel_aaaa(const dns::RawReply& raw, const QueryPlan& plan, ProbeResult& result) {
  const bool answered = !raw.deadline_passed && raw.status != ARES_ETIMEOUT &&
                        raw.status != ARES_ECONNREFUSED && raw.status != ARES_EDESTRUCTION &&
                        raw.status != ARES_ECANCELLED;
  if (!result.ok()) return;
  if (answered) {
    result.message += fmt::format(
        "; the AAAA query sent with it from the same socket was "
        "answered in {}",
        format_latency(raw.latency));
    return;
  }
  result.outcome = Outcome::DnsTimeout;
  result.message = fmt::format(
      "the A query was answered but the AAAA query sent with it from the same socket got no "
      "reply from {} within {}: the conntrack race of parallel A/AAAA queries through a DNAT'd "
      "DNS service (glibc stalls 5 s on it; kubernetes/kubernetes#56903)",
      plan.servers, format_latency(raw.latency));
}

}  // namespace

struct DnsProber::Impl {
  static constexpr std::size_t kMaxChannels = 1024;
  Impl(asio::io_context& context, dns::ResolverOptions options, std::string node)
      : io(context), settings(std::move(options)), node_name(std::move(node)) {}

  // The channel for a target's server list, made on first use. Throws std::invalid_argument
  // for a server or resolv.conf c-ares cannot use.
  // A discovered dns target's endpoint is its server ("IP:port").
  const ChannelEntry& channel_for(const Endpoint& endpoint) {
    const Target& target = *endpoint.target;
    std::vector<std::string> servers = target.discover ? std::vector<std::string>{endpoint.label}
                                       : target.server.empty()
                                           ? settings.servers
                                           : std::vector<std::string>{target.server};
    std::string key;
    for (const auto& server : servers) key += dns::normalize_dns_server(server) + ",";
    if (auto found = channels.find(key); found != channels.end()) return found->second;
    // Discovered servers come and go with their pods: a bound keeps the channels of gone
    // ones from piling up (a probe in flight holds its own channel; the rest are remade).
    if (channels.size() >= kMaxChannels) channels.clear();

    ChannelEntry entry;
    entry.channel = std::make_shared<dns::AresChannel>(
        io, dns::AresChannelOptions{.servers = servers,
                                    .resolv_conf_path = settings.resolv_conf_path,
                                    .lookups = "",
                                    .attempt_timeout = settings.attempt_timeout,
                                    .attempts = settings.attempts});
    // The search list and ndots c-ares read from resolv.conf, to tell which names a failed
    // search tried.
    ares_options saved{};
    int mask = 0;
    if (ares_save_options(entry.channel->get(), &saved, &mask) == ARES_SUCCESS) {
      for (int i = 0; i < saved.ndomains; ++i) entry.search_domains.emplace_back(saved.domains[i]);
      entry.ndots = saved.ndots;
      ares_destroy_options(&saved);
    }
    return channels.emplace(std::move(key), std::move(entry)).first->second;
  }

  QueryPlan plan(const Endpoint& endpoint) {
    const Target& target = *endpoint.target;
    QueryPlan plan;
    const auto type = dns::parse_record_type(target.record);
    if (!type) {
      plan.error = "unknown record type " + target.record;
      return plan;
    }
    plan.type = static_cast<std::uint16_t>(*type);
    plan.query = target.query;
    boost::system::error_code ec;
    if (auto literal = asio::ip::make_address(target.query, ec);
        !ec && *type == dns::RecordType::PTR) {
      plan.query = dns::reverse_name(literal);
    }
    try {
      const ChannelEntry& entry = channel_for(endpoint);
      plan.channel = entry.channel;
      plan.servers = entry.channel->servers();
      plan.tried = dns::search_candidates(plan.query, entry.search_domains, entry.ndots);
    } catch (const std::exception& e) {
      plan.error = std::string("DNS settings: ") + e.what();
    }
    plan.node_name = node_name;
    plan.io_context = &io;
    return plan;
  }

  asio::io_context& io;
  dns::ResolverOptions settings;
  std::string node_name;
  std::map<std::string, ChannelEntry> channels;
};

DnsProber::DnsProber(asio::io_context& io, dns::ResolverOptions settings, std::string node_name)
    : impl_(std::make_shared<Impl>(io, std::move(settings), std::move(node_name))) {}

DnsProber::~DnsProber() = default;

std::size_t DnsProber::channel_count() const { return impl_->channels.size(); }

asio::awaitable<ProbeResult> DnsProber::probe(const Endpoint& endpoint, Deadline deadline) {
  // Not a coroutine itself, so that the endpoint is copied before the caller's can go away.
  return probe_with(impl_, endpoint, deadline);
}

asio::awaitable<ProbeResult> DnsProber::probe_with(std::weak_ptr<Impl> weak, Endpoint endpoint,
                                                   Deadline deadline) {
  const auto start = Clock::now();
  const Target& target = *endpoint.target;
  QueryPlan plan;
  // Not held across a suspension: the prober's destruction must end its queries.
  if (auto impl = weak.lock()) {
    plan = impl->plan(endpoint);
  } else {
    plan.error = "dns prober shut down before probing " + target.query;
  }
  ProbeResult result;
  if (!plan.error.empty()) {
    result.outcome = Outcome::Error;
    result.message = plan.error;
    result.set_phase(Phase::Total, since(start));
    co_return result;
  }
  result.address = single_server_ip(plan.servers);

  std::shared_ptr<ParallelReply> aaaa;
  if (target.parallel_aaaa) {
    // Started before the A query is awaited: c-ares sends the two back to back on its one
    // UDP socket to the server, the same 5-tuple, as glibc does.
    aaaa = std::make_shared<ParallelReply>(plan.io_context->get_executor());
    aaaa->done.expires_at(deadline.at + kFanOutGrace);
    asio::co_spawn(*plan.io_context,
                   dns::search(plan.channel, plan.query,
                               static_cast<std::uint16_t>(dns::RecordType::AAAA), deadline),
                   [aaaa](const std::exception_ptr&, dns::RawReply reply) {
                     aaaa->reply = std::move(reply);
                     aaaa->done.cancel();
                   });
  }
  const dns::RawReply raw = co_await dns::search(plan.channel, plan.query, plan.type, deadline);
  std::optional<dns::RawReply> raw_aaaa;
  if (aaaa) {
    if (!aaaa->reply) {
      boost::system::error_code ec;
      co_await aaaa->done.async_wait(asio::redirect_error(asio::use_awaitable, ec));
    }
    raw_aaaa = aaaa->reply.value_or(dns::RawReply{});  // none: as a timeout
  }
  result.set_phase(Phase::Dns, raw_aaaa ? std::max(raw.latency, raw_aaaa->latency) : raw.latency);
  const DnsFinding found =
      interpret(raw, plan.query, plan.type, plan.tried, plan.servers, target, result);
  if (raw_aaaa) judge_parallel_aaaa(*raw_aaaa, plan, result);
  result.set_phase(Phase::Total, since(start));

  if (!target.connect_port || found.addresses.empty()) co_return result;
  auto chosen = found.addresses;
  const std::size_t bound = target.max_connect.value_or(kDefaultMaxConnect);
  if (chosen.size() > bound) {
    result.fanout_cut = ProbeResult::FanOutCut{
        .addresses = chosen.size(), .connected = bound, .default_bound = !target.max_connect};
    chosen = select_connect_addresses(chosen, bound, plan.node_name);
    if (result.ok()) {
      result.message += target.max_connect
                            ? fmt::format("; connecting to {} of them (max_connect)", bound)
                            : fmt::format(
                                  "; connecting to {} of them (the default bound; "
                                  "max_connect sets another, up to {})",
                                  bound, kMaxConnectLimit);
    }
  }
  result.fanout = co_await connect_to_all(*plan.io_context, chosen, *target.connect_port, deadline);
  co_return result;
}

std::vector<address> select_connect_addresses(const std::vector<address>& addresses,
                                              std::size_t limit, std::string_view node_name) {
  if (addresses.size() <= limit) return addresses;
  std::vector<std::string> keys;
  keys.reserve(addresses.size());
  for (const auto& a : addresses) keys.push_back(a.to_string());
  std::vector<address> out;
  out.reserve(limit);
  for (std::size_t index : rendezvous_choice(keys, limit, node_name)) {
    out.push_back(addresses[index]);
  }
  return out;
}

}  // namespace reachprobe
