#include "probe/dns/resolver.hpp"

#include <ares.h>
#include <netinet/in.h>

#include <algorithm>
#include <boost/asio/associated_executor.hpp>
#include <boost/asio/async_result.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <cctype>
#include <fstream>
#include <functional>
#include <optional>
#include <sstream>

#include "probe/dns/ares_channel.hpp"

namespace reachprobe::dns {
namespace {

using boost::asio::ip::address;

std::string lowercase_without_root_dot(std::string name) {
  if (!name.empty() && name.back() == '.') name.pop_back();
  std::transform(name.begin(), name.end(), name.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return name;
}

std::optional<address> ip_literal(std::string host) {
  if (host.size() > 2 && host.front() == '[' && host.back() == ']') {
    host = host.substr(1, host.size() - 2);
  }
  boost::system::error_code ec;
  auto parsed = boost::asio::ip::make_address(host, ec);
  if (ec) return std::nullopt;
  return parsed;
}

// The addresses `name` has in a hosts(5) file, in file order; empty if none or unreadable,
// as for c-ares, which then asks DNS.
std::vector<address> hosts_file_lookup(const std::string& path, const std::string& name) {
  std::vector<address> found;
  std::ifstream file(path);
  std::string line;
  for (int lines = 0; lines < 100000 && std::getline(file, line); ++lines) {
    if (auto hash = line.find('#'); hash != std::string::npos) line.erase(hash);
    std::istringstream fields(line);
    std::string ip;
    if (!(fields >> ip)) continue;
    auto parsed = ip_literal(ip);
    if (!parsed) continue;
    for (std::string alias; fields >> alias;) {
      if (lowercase_without_root_dot(alias) == name) {
        if (std::find(found.begin(), found.end(), *parsed) == found.end()) {
          found.push_back(*parsed);
        }
        break;
      }
    }
  }
  return found;
}

// RFC 6761 6.3: localhost names are loopback and never sent to a DNS server.
bool is_localhost(const std::string& name) {
  constexpr std::string_view kSuffix = ".localhost";
  return name == "localhost" || (name.size() > kSuffix.size() && name.ends_with(kSuffix));
}

ResolveResult answered(std::vector<address> addresses, Duration latency) {
  ResolveResult result;
  result.outcome = Outcome::Ok;
  result.addresses = std::move(addresses);
  result.latency = latency;
  return result;
}

ResolveResult failed(Outcome outcome, std::string message, Duration latency = {}) {
  ResolveResult result;
  result.outcome = outcome;
  result.message = std::move(message);
  result.latency = latency;
  return result;
}

std::vector<address> addresses_of(const ares_addrinfo* info) {
  std::vector<address> out;
  if (info == nullptr) return out;
  for (auto* node = info->nodes; node != nullptr; node = node->ai_next) {
    address next;
    if (node->ai_family == AF_INET) {
      const auto* in = reinterpret_cast<const sockaddr_in*>(node->ai_addr);
      next = boost::asio::ip::address_v4(ntohl(in->sin_addr.s_addr));
    } else if (node->ai_family == AF_INET6) {
      const auto* in6 = reinterpret_cast<const sockaddr_in6*>(node->ai_addr);
      boost::asio::ip::address_v6::bytes_type bytes;
      std::copy(std::begin(in6->sin6_addr.s6_addr), std::end(in6->sin6_addr.s6_addr),
                bytes.begin());
      next = boost::asio::ip::address_v6(bytes, in6->sin6_scope_id);
    } else {
      continue;
    }
    if (std::find(out.begin(), out.end(), next) == out.end()) out.push_back(next);
  }
  return out;
}

ResolveResult classify(int status, const ares_addrinfo* info, const std::string& name,
                       const std::string& servers) {
  switch (status) {
    case ARES_SUCCESS: {
      auto addresses = addresses_of(info);
      if (addresses.empty()) {
        return failed(Outcome::NoAnswer, servers + " returned no address for " + name);
      }
      return answered(std::move(addresses), {});
    }
    case ARES_ENOTFOUND:
      return failed(Outcome::NxDomain, name + " does not exist (NXDOMAIN from " + servers + ")");
    case ARES_ENODATA:
      return failed(Outcome::NoAnswer,
                    name + " has no A or AAAA record (empty NOERROR answer from " + servers + ")");
    case ARES_ESERVFAIL:
      return failed(Outcome::ServFail, servers + " answered SERVFAIL for " + name);
    case ARES_EREFUSED:
      return failed(Outcome::DnsRefused, servers + " refused the query for " + name);
    case ARES_ETIMEOUT:
      return failed(Outcome::DnsTimeout, "no DNS reply from " + servers + " for " + name +
                                             " (c-ares retries exhausted)");
    case ARES_ECONNREFUSED:
      return failed(Outcome::DnsTimeout, "no DNS reply from " + servers + " for " + name +
                                             ": port unreachable (connection refused)");
    case ARES_EDESTRUCTION:
    case ARES_ECANCELLED:
      return failed(Outcome::Error, "resolver shut down while resolving " + name);
    default:
      return failed(Outcome::Error,
                    "resolving " + name + " via " + servers + " failed: " + ares_strerror(status));
  }
}

// One lookup racing its deadline. Whichever of the c-ares callback and the deadline timer
// comes first completes it; the other finds `complete` empty.
struct PendingLookup {
  PendingLookup(boost::asio::io_context& io, std::string host_name, std::string server_list)
      : name(std::move(host_name)), servers(std::move(server_list)), deadline_timer(io) {}

  void finish(ResolveResult result) {
    if (!complete) return;
    auto done = std::move(complete);
    complete = nullptr;
    deadline_timer.cancel();
    result.latency = Clock::now() - started;
    done(std::move(result));
  }

  std::string name;
  std::string servers;
  Clock::time_point started = Clock::now();
  boost::asio::steady_timer deadline_timer;
  // Posts the result to the awaiting coroutine, never runs it inline: c-ares may call back
  // from inside ares_getaddrinfo or ares_process_fd.
  std::function<void(ResolveResult)> complete;
};

void on_addrinfo(void* arg, int status, int /*timeouts*/, ares_addrinfo* info) {
  std::unique_ptr<std::shared_ptr<PendingLookup>> owner(
      static_cast<std::shared_ptr<PendingLookup>*>(arg));
  auto& lookup = **owner;
  auto result = classify(status, info, lookup.name, lookup.servers);
  if (info != nullptr) ares_freeaddrinfo(info);
  lookup.finish(std::move(result));
}

}  // namespace

struct Resolver::Impl {
  Impl(boost::asio::io_context& io, const ResolverOptions& options)
      : channel(io, AresChannelOptions{.servers = options.servers,
                                       .resolv_conf_path = options.resolv_conf_path,
                                       .lookups = options.hosts_path.empty() ? "" : "b",
                                       .attempt_timeout = options.attempt_timeout,
                                       .attempts = options.attempts}),
        hosts_path(options.hosts_path) {
    if (!hosts_path.empty() && !std::ifstream(hosts_path)) {
      throw std::invalid_argument("cannot read hosts file \"" + hosts_path + "\"");
    }
  }

  // Answers from the hosts file given in the options and RFC 6761 localhost, which c-ares
  // cannot do for a file of our choosing.
  std::optional<ResolveResult> local_answer(const std::string& host) const {
    if (hosts_path.empty()) return std::nullopt;
    const auto started = Clock::now();
    const auto name = lowercase_without_root_dot(host);
    auto addresses = hosts_file_lookup(hosts_path, name);
    if (addresses.empty() && is_localhost(name)) {
      addresses = {boost::asio::ip::address_v4::loopback(),
                   boost::asio::ip::address_v6::loopback()};
    }
    if (addresses.empty()) return std::nullopt;
    return answered(std::move(addresses), Clock::now() - started);
  }

  void start(const std::shared_ptr<PendingLookup>& lookup, Deadline deadline) {
    if (deadline.passed()) {
      lookup->finish(failed(Outcome::DnsTimeout,
                            "deadline passed before " + lookup->name + " could be resolved"));
      return;
    }
    lookup->deadline_timer.expires_at(deadline.at);
    lookup->deadline_timer.async_wait([lookup](const boost::system::error_code& ec) {
      if (ec) return;
      lookup->finish(failed(Outcome::DnsTimeout, "no DNS reply from " + lookup->servers + " for " +
                                                     lookup->name + " before the deadline"));
    });
    ares_addrinfo_hints hints{};
    hints.ai_family = AF_UNSPEC;
    ares_getaddrinfo(channel.get(), lookup->name.c_str(), nullptr, &hints, &on_addrinfo,
                     new std::shared_ptr<PendingLookup>(lookup));
    channel.schedule_timeouts();
  }

  AresChannel channel;
  std::string hosts_path;
};

Resolver::Resolver(boost::asio::io_context& io, const ResolverOptions& options)
    : impl_(std::make_shared<Impl>(io, options)) {}

Resolver::~Resolver() = default;

const std::string& Resolver::servers() const { return impl_->channel.servers(); }

boost::asio::awaitable<ResolveResult> Resolver::resolve(const std::string& host,
                                                        Deadline deadline) {
  // Not a coroutine itself, so that `host` is copied before the caller's string can go away.
  return resolve_with(impl_, host, deadline);
}

boost::asio::awaitable<ResolveResult> Resolver::resolve_with(std::weak_ptr<Impl> weak,
                                                             std::string host, Deadline deadline) {
  if (host.empty()) co_return failed(Outcome::Error, "empty host name");
  if (auto literal = ip_literal(host)) co_return answered({*literal}, {});
  {
    // Not held across the suspension below: the Resolver's destruction must destroy the
    // channel, which is what ends the lookups still in flight.
    auto impl = weak.lock();
    if (!impl) co_return failed(Outcome::Error, "resolver shut down before resolving " + host);
    if (auto local = impl->local_answer(host)) co_return std::move(*local);
  }
  // The initiation captures only pointers into this frame, which outlives it: GCC 12 corrupts
  // non-trivially-copyable captures of an initiation passed into Boost 1.74's use_awaitable
  // coroutine (a std::string capture ends in an invalid free).
  const std::weak_ptr<Impl>* resolver = &weak;
  const std::string* name = &host;
  co_return co_await boost::asio::async_initiate<const boost::asio::use_awaitable_t<>&,
                                                 void(ResolveResult)>(
      [resolver, name, deadline](auto handler) {
        const std::string& host = *name;
        auto executor = boost::asio::get_associated_executor(handler);
        auto shared_handler = std::make_shared<decltype(handler)>(std::move(handler));
        auto complete = [executor, shared_handler](ResolveResult result) {
          boost::asio::post(executor, [shared_handler, result = std::move(result)]() mutable {
            (*shared_handler)(std::move(result));
          });
        };
        auto impl = resolver->lock();
        if (!impl) {
          complete(failed(Outcome::Error, "resolver shut down before resolving " + host));
          return;
        }
        auto lookup = std::make_shared<PendingLookup>(impl->channel.io_context(), host,
                                                      impl->channel.servers());
        lookup->complete = std::move(complete);
        impl->start(std::move(lookup), deadline);
      },
      boost::asio::use_awaitable);
}

}  // namespace reachprobe::dns
