#pragma once

#include <ares.h>

#include <boost/asio/io_context.hpp>
#include <chrono>
#include <memory>
#include <string>
#include <vector>

namespace reachprobe::dns {

struct AresChannelOptions {
  // "IP", "IP:PORT" or "[IPv6]:PORT"; empty: the nameservers of the resolv.conf in use.
  std::vector<std::string> servers;
  // Read instead of /etc/resolv.conf (search, ndots, options, nameservers) when non-empty.
  std::string resolv_conf_path;
  // c-ares lookup order: "b" DNS only, "fb" hosts file then DNS; empty: the system's
  // (resolv.conf / nsswitch.conf). c-ares 1.18 cannot be pointed at another hosts file.
  std::string lookups;
  // c-ares' own retransmission: the first attempt's timeout (later ones double it) and the
  // number of attempts per server. Zero: c-ares' defaults, 5 s and 4 in 1.18, which ignores
  // "options timeout: attempts:" in resolv.conf (it reads only "retrans:" and "retry:").
  std::chrono::milliseconds attempt_timeout{0};
  int attempts = 0;
};

// A c-ares channel whose sockets and retransmit timer are driven by an io_context, so queries
// need no thread of their own: c-ares reports through its socket-state callback which fds it
// wants watched, Asio waits on them and hands readiness back with ares_process_fd.
//
// Everything happens on the io_context's thread: create, query and destroy the channel there,
// but never destroy it from inside one of its own query callbacks.
// A later DNS prober sends raw queries (ares_query, ares_search, ares_send) on get() the same
// way the Resolver calls ares_getaddrinfo: start the request, then call
// schedule_timeouts().
class AresChannel {
 public:
  // Throws std::invalid_argument with a clear message for a malformed server or an unreadable
  // resolv.conf, std::runtime_error if c-ares cannot be initialised.
  AresChannel(boost::asio::io_context& io, const AresChannelOptions& options);
  // Destroys the channel: c-ares calls every pending callback with ARES_EDESTRUCTION.
  ~AresChannel();
  AresChannel(const AresChannel&) = delete;
  AresChannel& operator=(const AresChannel&) = delete;

  ares_channel get() const;
  boost::asio::io_context& io_context() const;

  // c-ares only reports sockets, not the retransmit deadlines of queries sent on a socket it
  // already had open, so this must be called after every request started on get().
  void schedule_timeouts();

  // The servers queries go to, "127.0.0.1:53,[::1]:5353", for messages.
  const std::string& servers() const { return servers_; }

 private:
  struct Core;
  std::shared_ptr<Core> core_;
  std::string servers_;
};

// "IP", "IP:PORT", "[IPv6]" or "[IPv6]:PORT" (a bare IPv6 address too) in the form
// ares_set_servers_ports_csv takes. Throws std::invalid_argument naming what is wrong.
std::string normalize_dns_server(const std::string& server);

}  // namespace reachprobe::dns
