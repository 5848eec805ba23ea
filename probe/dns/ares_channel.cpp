#include "probe/dns/ares_channel.hpp"

#include <algorithm>
#include <boost/asio/ip/address.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <boost/asio/steady_timer.hpp>
#include <charconv>
#include <chrono>
#include <fstream>
#include <mutex>
#include <stdexcept>
#include <string_view>
#include <unordered_map>
#include <unordered_set>
#include <vector>

namespace reachprobe::dns {
namespace {

std::uint16_t parse_port(std::string_view text, const std::string& server) {
  unsigned value = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (text.empty() || ec != std::errc() || end != text.data() + text.size() || value == 0 ||
      value > 65535) {
    throw std::invalid_argument("DNS server \"" + server + "\": port \"" + std::string(text) +
                                "\" is not a number from 1 to 65535");
  }
  return static_cast<std::uint16_t>(value);
}

[[noreturn]] void throw_bad_server(const std::string& server, const std::string& why) {
  throw std::invalid_argument("DNS server \"" + server + "\": " + why +
                              " (expected IP, IP:PORT or [IPv6]:PORT)");
}

std::string describe_servers(ares_channel channel) {
  ares_addr_port_node* list = nullptr;
  if (ares_get_servers_ports(channel, &list) != ARES_SUCCESS) return "?";
  std::string out;
  for (auto* node = list; node != nullptr; node = node->next) {
    char text[INET6_ADDRSTRLEN] = {};
    ares_inet_ntop(node->family, &node->addr, text, sizeof text);
    if (!out.empty()) out += ',';
    const int port = node->udp_port != 0 ? node->udp_port : 53;
    if (node->family == AF_INET6) {
      out += "[" + std::string(text) + "]:" + std::to_string(port);
    } else {
      out += std::string(text) + ":" + std::to_string(port);
    }
  }
  ares_free_data(list);
  return out.empty() ? "no server" : out;
}

void init_library_once() {
  // Only needed on Windows, but documented as required everywhere; never undone because
  // channels may exist until exit.
  static std::once_flag once;
  std::call_once(once, [] {
    if (int status = ares_library_init(ARES_LIB_INIT_ALL); status != ARES_SUCCESS) {
      throw std::runtime_error(std::string("c-ares initialisation failed: ") +
                               ares_strerror(status));
    }
  });
}

}  // namespace

std::string normalize_dns_server(const std::string& server) {
  if (server.empty()) throw_bad_server(server, "empty");
  std::string_view text = server;
  std::string_view host;
  std::uint16_t port = 53;
  bool bracketed = false;
  if (text.front() == '[') {
    auto close = text.find(']');
    if (close == std::string_view::npos) throw_bad_server(server, "missing ']'");
    host = text.substr(1, close - 1);
    auto rest = text.substr(close + 1);
    if (!rest.empty()) {
      if (rest.front() != ':') throw_bad_server(server, "unexpected text after ']'");
      port = parse_port(rest.substr(1), server);
    }
    bracketed = true;
  } else if (auto colons = std::count(text.begin(), text.end(), ':'); colons == 1) {
    auto colon = text.find(':');
    host = text.substr(0, colon);
    port = parse_port(text.substr(colon + 1), server);
  } else {
    host = text;  // a bare IPv4 address, or a bare IPv6 address (no port possible)
  }

  boost::system::error_code ec;
  auto address = boost::asio::ip::make_address(std::string(host), ec);
  if (ec) throw_bad_server(server, "\"" + std::string(host) + "\" is not an IP address");
  if (bracketed && !address.is_v6()) throw_bad_server(server, "only IPv6 goes in brackets");
  if (address.is_v6() && address.to_v6().scope_id() != 0) {
    throw_bad_server(server, "a zone index (%) is not supported");
  }
  if (address.is_v6()) return "[" + address.to_string() + "]:" + std::to_string(port);
  return address.to_string() + ":" + std::to_string(port);
}

namespace {

// The channels living on one io_context. A query's completion handler is owned by c-ares (the
// query's argument), not by the io_context, and it owns the awaiting coroutine frames, which
// may own the channel's owner (a prober held by the probe in flight): a cycle that nothing
// breaks when the io_context goes away with queries pending. The io_context shuts its
// services down before destroying anything, so this one cancels every query then: c-ares
// calls back with ARES_ECANCELLED, the results are posted to the io_context, and its
// shutdown destroys them with the frames they would have resumed.
class ChannelRegistry final : public boost::asio::execution_context::service {
 public:
  using key_type = ChannelRegistry;
  static inline boost::asio::execution_context::id id;

  explicit ChannelRegistry(boost::asio::execution_context& context)
      : boost::asio::execution_context::service(context) {}

  void add(ares_channel* channel) { channels_.insert(channel); }
  void remove(ares_channel* channel) { channels_.erase(channel); }

 private:
  void shutdown() override {
    // Copied: a callback may end the last reference to a channel, which then leaves the set.
    const std::vector<ares_channel*> channels(channels_.begin(), channels_.end());
    for (auto* channel : channels) {
      if (channels_.contains(channel) && *channel != nullptr) ares_cancel(*channel);
    }
  }

  std::unordered_set<ares_channel*> channels_;
};

}  // namespace

// State shared with in-flight Asio handlers, which hold it weakly: a handler that runs after
// the channel is gone finds it expired and does nothing.
struct AresChannel::Core : std::enable_shared_from_this<Core> {
  // One per socket c-ares has open. Handlers hold it strongly, so `closed` can tell them the
  // fd was given back to c-ares (and perhaps reused for another socket) in the meantime.
  struct Watcher {
    Watcher(boost::asio::io_context& io, ares_socket_t socket) : fd(socket), descriptor(io) {
      // Called from inside c-ares, where an exception must not go. An fd the reactor refuses
      // stays unwatched; c-ares' own timeout then ends its queries.
      boost::system::error_code ec;
      descriptor.assign(fd, ec);
      closed = static_cast<bool>(ec);
    }
    ares_socket_t fd;
    boost::asio::posix::stream_descriptor descriptor;
    bool want_read = false;
    bool want_write = false;
    bool read_pending = false;
    bool write_pending = false;
    bool closed = false;
  };

  explicit Core(boost::asio::io_context& context)
      : io(context), registry(boost::asio::use_service<ChannelRegistry>(context)), timer(context) {
    registry.add(&channel);
  }

  ~Core() {
    registry.remove(&channel);
    // ares_destroy reports every socket closed; anything left is released, never closed,
    // because the fd belongs to c-ares.
    for (auto& [fd, watcher] : watchers) forget(*watcher);
  }

  static void on_socket_state(void* data, ares_socket_t fd, int readable, int writable) {
    static_cast<Core*>(data)->socket_state(fd, readable != 0, writable != 0);
  }

  void socket_state(ares_socket_t fd, bool readable, bool writable) {
    auto found = watchers.find(fd);
    if (!readable && !writable) {
      // c-ares is about to close the fd: stop watching it first.
      if (found != watchers.end()) {
        forget(*found->second);
        watchers.erase(found);
      }
      return;
    }
    if (found == watchers.end()) {
      found = watchers.emplace(fd, std::make_shared<Watcher>(io, fd)).first;
    }
    auto watcher = found->second;
    watcher->want_read = readable;
    watcher->want_write = writable;
    arm(watcher);
  }

  static void forget(Watcher& watcher) {
    watcher.closed = true;
    if (watcher.descriptor.is_open()) watcher.descriptor.release();
  }

  void arm(const std::shared_ptr<Watcher>& watcher) {
    if (watcher->closed) return;
    if (watcher->want_read && !watcher->read_pending) {
      watcher->read_pending = true;
      watcher->descriptor.async_wait(
          boost::asio::posix::stream_descriptor::wait_read,
          [weak = weak_from_this(), watcher](const boost::system::error_code& ec) {
            watcher->read_pending = false;
            auto core = weak.lock();
            if (!core || ec || watcher->closed) return;
            if (watcher->want_read) ares_process_fd(core->channel, watcher->fd, ARES_SOCKET_BAD);
            core->arm(watcher);
            core->schedule_timeouts();
          });
    }
    // A write wait left over after c-ares stopped wanting writes completes on its own (the
    // socket is writable) and is then not renewed.
    if (watcher->want_write && !watcher->write_pending) {
      watcher->write_pending = true;
      watcher->descriptor.async_wait(
          boost::asio::posix::stream_descriptor::wait_write,
          [weak = weak_from_this(), watcher](const boost::system::error_code& ec) {
            watcher->write_pending = false;
            auto core = weak.lock();
            if (!core || ec || watcher->closed) return;
            if (watcher->want_write) ares_process_fd(core->channel, ARES_SOCKET_BAD, watcher->fd);
            core->arm(watcher);
            core->schedule_timeouts();
          });
    }
  }

  void schedule_timeouts() {
    timeval left{};
    if (ares_timeout(channel, nullptr, &left) == nullptr) {
      timer.cancel();
      return;
    }
    timer.expires_after(std::chrono::seconds(left.tv_sec) +
                        std::chrono::microseconds(left.tv_usec));
    timer.async_wait([weak = weak_from_this()](const boost::system::error_code& ec) {
      auto core = weak.lock();
      if (!core || ec) return;
      ares_process_fd(core->channel, ARES_SOCKET_BAD, ARES_SOCKET_BAD);
      core->schedule_timeouts();
    });
  }

  boost::asio::io_context& io;
  ChannelRegistry& registry;
  ares_channel channel = nullptr;
  std::unordered_map<ares_socket_t, std::shared_ptr<Watcher>> watchers;
  boost::asio::steady_timer timer;
};

AresChannel::AresChannel(boost::asio::io_context& io, const AresChannelOptions& options)
    : core_(std::make_shared<Core>(io)) {
  std::string servers_csv;
  for (const auto& server : options.servers) {
    if (!servers_csv.empty()) servers_csv += ',';
    servers_csv += normalize_dns_server(server);
  }
  if (!options.resolv_conf_path.empty() && !std::ifstream(options.resolv_conf_path)) {
    throw std::invalid_argument("cannot read resolv.conf \"" + options.resolv_conf_path + "\"");
  }
  init_library_once();

  ares_options ares{};
  int mask = ARES_OPT_SOCK_STATE_CB | ARES_OPT_FLAGS;
  // Without NOCHECKRESP c-ares 1.18 hides a SERVFAIL or REFUSED answer behind the next
  // server and finally reports ECONNREFUSED, indistinguishable from an unreachable port. A
  // probe must say what the server answered, so the first answer counts.
  ares.flags = ARES_FLAG_NOCHECKRESP;
  ares.sock_state_cb = &Core::on_socket_state;
  ares.sock_state_cb_data = core_.get();
  if (options.attempt_timeout.count() > 0) {
    ares.timeout = static_cast<int>(options.attempt_timeout.count());
    mask |= ARES_OPT_TIMEOUTMS;
  }
  if (options.attempts > 0) {
    ares.tries = options.attempts;
    mask |= ARES_OPT_TRIES;
  }
  std::string resolv_conf = options.resolv_conf_path;
  if (!resolv_conf.empty()) {
    ares.resolvconf_path = resolv_conf.data();
    mask |= ARES_OPT_RESOLVCONF;
  }
  std::string lookups = options.lookups;
  if (!lookups.empty()) {
    ares.lookups = lookups.data();
    mask |= ARES_OPT_LOOKUPS;
  }
  if (int status = ares_init_options(&core_->channel, &ares, mask); status != ARES_SUCCESS) {
    throw std::runtime_error(std::string("cannot initialise c-ares: ") + ares_strerror(status));
  }
  if (!servers_csv.empty()) {
    if (int status = ares_set_servers_ports_csv(core_->channel, servers_csv.c_str());
        status != ARES_SUCCESS) {
      ares_destroy(core_->channel);
      throw std::invalid_argument("DNS servers \"" + servers_csv +
                                  "\" rejected by c-ares: " + ares_strerror(status));
    }
  }
  servers_ = describe_servers(core_->channel);
}

AresChannel::~AresChannel() {
  ares_destroy(core_->channel);
  core_->channel = nullptr;
  core_->timer.cancel();
}

ares_channel AresChannel::get() const { return core_->channel; }

boost::asio::io_context& AresChannel::io_context() const { return core_->io; }

void AresChannel::schedule_timeouts() { core_->schedule_timeouts(); }

}  // namespace reachprobe::dns
