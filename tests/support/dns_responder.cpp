#include "tests/support/dns_responder.hpp"

#include <algorithm>
#include <array>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ip/udp.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <cctype>
#include <map>
#include <mutex>
#include <optional>
#include <stdexcept>

namespace reachprobe::test {
namespace {

namespace asio = boost::asio;
using asio::ip::tcp;
using asio::ip::udp;
using Bytes = std::vector<std::uint8_t>;

constexpr std::uint8_t kRcodeNoError = 0;
constexpr std::uint8_t kRcodeServFail = 2;
constexpr std::uint8_t kRcodeNxDomain = 3;
constexpr std::uint8_t kRcodeRefused = 5;
constexpr std::size_t kHeaderSize = 12;

std::string canonical(std::string name) {
  if (!name.empty() && name.back() == '.') name.pop_back();
  std::transform(name.begin(), name.end(), name.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return name;
}

struct ParsedQuery {
  std::uint16_t id = 0;
  std::uint8_t flags = 0;  // first flags byte of the query: opcode and RD are echoed
  std::string name;        // canonical
  std::uint16_t type = 0;
  Bytes question;  // the question section as received, echoed in the reply
};

std::optional<ParsedQuery> parse_query(const Bytes& message) {
  if (message.size() < kHeaderSize) return std::nullopt;
  if ((message[2] & 0x80) != 0) return std::nullopt;  // a response, not a query
  const unsigned question_count = (message[4] << 8) | message[5];
  if (question_count < 1) return std::nullopt;
  ParsedQuery query;
  query.id = static_cast<std::uint16_t>((message[0] << 8) | message[1]);
  query.flags = message[2];
  std::size_t at = kHeaderSize;
  std::string name;
  for (int labels = 0;; ++labels) {
    if (labels > 127 || at >= message.size()) return std::nullopt;
    const std::size_t length = message[at++];
    if (length == 0) break;
    if ((length & 0xC0) != 0 || at + length > message.size()) return std::nullopt;
    if (!name.empty()) name += '.';
    name.append(message.begin() + static_cast<std::ptrdiff_t>(at),
                message.begin() + static_cast<std::ptrdiff_t>(at + length));
    at += length;
  }
  if (at + 4 > message.size()) return std::nullopt;
  query.type = static_cast<std::uint16_t>((message[at] << 8) | message[at + 1]);
  at += 4;  // type and class
  query.name = canonical(name);
  query.question.assign(message.begin() + kHeaderSize,
                        message.begin() + static_cast<std::ptrdiff_t>(at));
  return query;
}

void put16(Bytes& out, std::uint32_t value) {
  out.push_back(static_cast<std::uint8_t>(value >> 8));
  out.push_back(static_cast<std::uint8_t>(value));
}

void put32(Bytes& out, std::uint32_t value) {
  put16(out, value >> 16);
  put16(out, value & 0xFFFF);
}

void put_name(Bytes& out, const std::string& name) {
  std::size_t start = 0;
  const std::string text = canonical(name);
  while (start < text.size()) {
    auto dot = text.find('.', start);
    if (dot == std::string::npos) dot = text.size();
    const auto length = std::min<std::size_t>(dot - start, 63);
    out.push_back(static_cast<std::uint8_t>(length));
    out.insert(out.end(), text.begin() + static_cast<std::ptrdiff_t>(start),
               text.begin() + static_cast<std::ptrdiff_t>(start + length));
    start = dot + 1;
  }
  out.push_back(0);
}

struct Record {
  std::string owner;
  std::uint16_t type;
  std::uint32_t ttl;
  Bytes data;
};

// The records of `type` that `rule` gives `owner`.
void add_records(std::vector<Record>& out, const std::string& owner, const DnsRule& rule,
                 std::uint16_t type) {
  for (const auto& address : rule.addresses) {
    if (type == kDnsTypeA && address.is_v4()) {
      auto bytes = address.to_v4().to_bytes();
      out.push_back({owner, type, rule.ttl, Bytes(bytes.begin(), bytes.end())});
    } else if (type == kDnsTypeAaaa && address.is_v6()) {
      auto bytes = address.to_v6().to_bytes();
      out.push_back({owner, type, rule.ttl, Bytes(bytes.begin(), bytes.end())});
    }
  }
  if (type == kDnsTypeSrv) {
    for (const auto& srv : rule.srv) {
      Bytes data;
      put16(data, srv.priority);
      put16(data, srv.weight);
      put16(data, srv.port);
      put_name(data, srv.target);
      out.push_back({owner, type, rule.ttl, std::move(data)});
    }
  }
  auto add_names = [&](const std::vector<std::string>& names) {
    for (const auto& name : names) {
      Bytes data;
      put_name(data, name);
      out.push_back({owner, type, rule.ttl, std::move(data)});
    }
  };
  if (type == kDnsTypeNs) add_names(rule.ns);
  if (type == kDnsTypePtr) add_names(rule.ptr);
  if (type == kDnsTypeMx) {
    for (const auto& mx : rule.mx) {
      Bytes data;
      put16(data, mx.preference);
      put_name(data, mx.exchange);
      out.push_back({owner, type, rule.ttl, std::move(data)});
    }
  }
  for (const auto& raw : rule.raw) {
    if (raw.type == type) out.push_back({owner, type, rule.ttl, raw.data});
  }
  if (type == kDnsTypeTxt) {
    for (const auto& text : rule.txt) {
      Bytes data;
      for (std::size_t at = 0; at < text.size() || at == 0; at += 255) {
        const auto chunk = std::min<std::size_t>(text.size() - at, 255);
        data.push_back(static_cast<std::uint8_t>(chunk));
        data.insert(data.end(), text.begin() + static_cast<std::ptrdiff_t>(at),
                    text.begin() + static_cast<std::ptrdiff_t>(at + chunk));
        if (text.empty()) break;
      }
      out.push_back({owner, type, rule.ttl, std::move(data)});
    }
  }
}

Bytes build_reply(const ParsedQuery& query, std::uint8_t rcode, bool truncated,
                  const std::vector<Record>& answers) {
  Bytes out;
  put16(out, query.id);
  // QR, the query's opcode and RD, AA; then RA and the rcode.
  out.push_back(
      static_cast<std::uint8_t>(0x80 | (query.flags & 0x79) | 0x04 | (truncated ? 0x02 : 0)));
  out.push_back(static_cast<std::uint8_t>(0x80 | rcode));
  put16(out, 1);
  put16(out, static_cast<std::uint32_t>(answers.size()));
  put16(out, 0);
  put16(out, 0);
  out.insert(out.end(), query.question.begin(), query.question.end());
  for (const auto& record : answers) {
    put_name(out, record.owner);
    put16(out, record.type);
    put16(out, 1);  // class IN
    put32(out, record.ttl);
    put16(out, static_cast<std::uint32_t>(record.data.size()));
    out.insert(out.end(), record.data.begin(), record.data.end());
  }
  return out;
}

}  // namespace

std::vector<std::uint8_t> encode_dns_name(const std::string& name) {
  Bytes out;
  put_name(out, name);
  return out;
}

DnsRule DnsRule::answer(const std::vector<std::string>& addresses, std::uint32_t ttl) {
  DnsRule rule;
  for (const auto& text : addresses) rule.addresses.push_back(boost::asio::ip::make_address(text));
  rule.ttl = ttl;
  return rule;
}

DnsRule DnsRule::alias(std::string target) {
  DnsRule rule;
  rule.cname = std::move(target);
  return rule;
}

struct DnsResponder::Server {
  Server() : udp_socket(io), acceptor(io) {}

  asio::awaitable<void> serve_udp() {
    std::array<std::uint8_t, 65536> buffer{};
    for (;;) {
      udp::endpoint from;
      boost::system::error_code ec;
      auto size = co_await udp_socket.async_receive_from(
          asio::buffer(buffer), from, asio::redirect_error(asio::use_awaitable, ec));
      if (ec == asio::error::operation_aborted || !udp_socket.is_open()) co_return;
      if (ec) continue;
      asio::co_spawn(
          io, answer_udp(Bytes(buffer.begin(), buffer.begin() + static_cast<long>(size)), from),
          asio::detached);
    }
  }

  asio::awaitable<void> answer_udp(Bytes message, udp::endpoint from) {
    auto reply = co_await respond(message, DnsTransport::Udp, from.port());
    if (!reply) co_return;
    boost::system::error_code ec;
    co_await udp_socket.async_send_to(asio::buffer(*reply), from,
                                      asio::redirect_error(asio::use_awaitable, ec));
  }

  asio::awaitable<void> serve_tcp() {
    for (;;) {
      boost::system::error_code ec;
      auto socket = co_await acceptor.async_accept(asio::redirect_error(asio::use_awaitable, ec));
      if (ec == asio::error::operation_aborted || !acceptor.is_open()) co_return;
      if (ec) continue;
      asio::co_spawn(io, serve_connection(std::move(socket)), asio::detached);
    }
  }

  asio::awaitable<void> serve_connection(tcp::socket socket) {
    // Queries on one connection are answered in turn; ends when the client closes it.
    for (int served = 0; served < 100000; ++served) {
      boost::system::error_code ec;
      std::array<std::uint8_t, 2> length{};
      co_await asio::async_read(socket, asio::buffer(length),
                                asio::redirect_error(asio::use_awaitable, ec));
      if (ec) co_return;
      Bytes message((length[0] << 8) | length[1]);
      co_await asio::async_read(socket, asio::buffer(message),
                                asio::redirect_error(asio::use_awaitable, ec));
      if (ec) co_return;
      auto reply = co_await respond(message, DnsTransport::Tcp, 0);
      if (!reply) continue;
      Bytes framed;
      put16(framed, static_cast<std::uint32_t>(reply->size()));
      framed.insert(framed.end(), reply->begin(), reply->end());
      co_await asio::async_write(socket, asio::buffer(framed),
                                 asio::redirect_error(asio::use_awaitable, ec));
      if (ec) co_return;
    }
  }

  // The reply to `message`, or nothing for a message that is no query or a dropped one.
  asio::awaitable<std::optional<Bytes>> respond(const Bytes& message, DnsTransport transport,
                                                std::uint16_t source_port) {
    auto query = parse_query(message);
    if (!query) co_return std::nullopt;
    std::optional<DnsRule> rule;
    std::vector<Record> answers;
    const auto received_at = std::chrono::steady_clock::now();
    std::size_t index = 0;
    {
      std::lock_guard lock(mutex);
      index = received.size();
      received.push_back({query->name, query->type, transport, source_port, {}});
      if (auto found = rules.find(query->name); found != rules.end()) rule = found->second;
      if (rule && rule->kind == DnsRule::Kind::Answer) answers = records_for(*query, *rule);
    }
    if (rule && rule->delay.count() > 0) {
      asio::steady_timer timer(io, rule->delay);
      boost::system::error_code ec;
      co_await timer.async_wait(asio::redirect_error(asio::use_awaitable, ec));
      std::lock_guard lock(mutex);
      received[index].held = std::chrono::steady_clock::now() - received_at;
    }
    if (!rule) co_return build_reply(*query, kRcodeNxDomain, false, {});
    if (std::find(rule->drop_types.begin(), rule->drop_types.end(), query->type) !=
        rule->drop_types.end()) {
      co_return std::nullopt;
    }
    switch (rule->kind) {
      case DnsRule::Kind::Drop:
        co_return std::nullopt;
      case DnsRule::Kind::NxDomain:
        co_return build_reply(*query, kRcodeNxDomain, false, {});
      case DnsRule::Kind::ServFail:
        co_return build_reply(*query, kRcodeServFail, false, {});
      case DnsRule::Kind::Refused:
        co_return build_reply(*query, kRcodeRefused, false, {});
      case DnsRule::Kind::Empty:
        co_return build_reply(*query, kRcodeNoError, false, {});
      case DnsRule::Kind::Answer:
        break;
    }
    if (rule->truncate_udp && transport == DnsTransport::Udp) {
      co_return build_reply(*query, kRcodeNoError, true, {});
    }
    co_return build_reply(*query, kRcodeNoError, false, answers);
  }

  // Called with `mutex` held.
  std::vector<Record> records_for(const ParsedQuery& query, const DnsRule& rule) const {
    std::vector<Record> answers;
    std::string owner = query.name;
    const DnsRule* current = &rule;
    for (int depth = 0; depth < 8 && !current->cname.empty(); ++depth) {
      answers.push_back({owner, kDnsTypeCname, current->ttl, {}});
      put_name(answers.back().data, current->cname);
      if (query.type == kDnsTypeCname) return answers;
      owner = canonical(current->cname);
      auto target = rules.find(owner);
      if (target == rules.end() || target->second.kind != DnsRule::Kind::Answer) return answers;
      current = &target->second;
    }
    if (current->cname.empty()) add_records(answers, owner, *current, query.type);
    return answers;
  }

  asio::io_context io;
  udp::socket udp_socket;
  tcp::acceptor acceptor;
  mutable std::mutex mutex;
  std::map<std::string, DnsRule> rules;
  std::vector<DnsQuery> received;
};

DnsResponder::DnsResponder() : server_(std::make_unique<Server>()) {
  const auto loopback = asio::ip::address_v4::loopback();
  // The kernel picks the UDP port; TCP must get the same number, which may be taken.
  for (int attempt = 0; attempt < 50 && port_ == 0; ++attempt) {
    boost::system::error_code ec;
    server_->udp_socket = udp::socket(server_->io, udp::endpoint(loopback, 0));
    const auto port = server_->udp_socket.local_endpoint().port();
    server_->acceptor.open(tcp::v4());
    server_->acceptor.bind(tcp::endpoint(loopback, port), ec);
    if (!ec) server_->acceptor.listen(asio::socket_base::max_listen_connections, ec);
    if (ec) {
      server_->acceptor.close();
      server_->udp_socket.close();
      continue;
    }
    port_ = port;
  }
  if (port_ == 0) throw std::runtime_error("DnsResponder: no port free for both UDP and TCP");
  asio::co_spawn(server_->io, server_->serve_udp(), asio::detached);
  asio::co_spawn(server_->io, server_->serve_tcp(), asio::detached);
  thread_ = std::thread([server = server_.get()] { server->io.run(); });
}

DnsResponder::~DnsResponder() {
  server_->io.stop();
  thread_.join();
}

std::string DnsResponder::server() const { return "127.0.0.1:" + std::to_string(port_); }

void DnsResponder::set(const std::string& name, DnsRule rule) {
  std::lock_guard lock(server_->mutex);
  server_->rules[canonical(name)] = std::move(rule);
}

int DnsResponder::query_count(const std::string& name, DnsTransport transport) const {
  const auto wanted = canonical(name);
  std::lock_guard lock(server_->mutex);
  return static_cast<int>(std::count_if(
      server_->received.begin(), server_->received.end(),
      [&](const DnsQuery& q) { return q.name == wanted && q.transport == transport; }));
}

int DnsResponder::query_count(const std::string& name) const {
  return query_count(name, DnsTransport::Udp) + query_count(name, DnsTransport::Tcp);
}

int DnsResponder::total_queries() const {
  std::lock_guard lock(server_->mutex);
  return static_cast<int>(server_->received.size());
}

std::vector<DnsQuery> DnsResponder::queries() const {
  std::lock_guard lock(server_->mutex);
  return server_->received;
}

}  // namespace reachprobe::test
