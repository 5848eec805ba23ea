#pragma once

#include <boost/asio/ip/address.hpp>
#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <thread>
#include <vector>

namespace reachprobe::test {

enum class DnsTransport { Udp, Tcp };

// DNS record types the responder knows.
inline constexpr std::uint16_t kDnsTypeA = 1;
inline constexpr std::uint16_t kDnsTypeNs = 2;
inline constexpr std::uint16_t kDnsTypeCname = 5;
inline constexpr std::uint16_t kDnsTypeSoa = 6;
inline constexpr std::uint16_t kDnsTypePtr = 12;
inline constexpr std::uint16_t kDnsTypeMx = 15;
inline constexpr std::uint16_t kDnsTypeTxt = 16;
inline constexpr std::uint16_t kDnsTypeAaaa = 28;
inline constexpr std::uint16_t kDnsTypeSrv = 33;
inline constexpr std::uint16_t kDnsTypeCaa = 257;

struct SrvRecord {
  std::uint16_t priority = 0;
  std::uint16_t weight = 0;
  std::uint16_t port = 0;
  std::string target;
};

struct MxRecord {
  std::uint16_t preference = 0;
  std::string exchange;
};

// A record of any type, its data already in wire form (see encode_dns_name).
struct RawRecord {
  std::uint16_t type = 0;
  std::vector<std::uint8_t> data;
};

// `name` as uncompressed labels, for the data of a RawRecord.
std::vector<std::uint8_t> encode_dns_name(const std::string& name);

// How the responder answers one name, for every query type.
struct DnsRule {
  enum class Kind { Answer, NxDomain, ServFail, Refused, Empty, Drop };

  Kind kind = Kind::Answer;
  // Answer: A records from the IPv4 addresses, AAAA records from the IPv6 ones; a type with
  // no record gets an empty NOERROR answer.
  std::vector<boost::asio::ip::address> addresses;
  std::vector<SrvRecord> srv;
  std::vector<std::string> txt;  // one TXT record per string
  std::vector<std::string> ns;   // one NS record per name
  std::vector<std::string> ptr;  // one PTR record per name
  std::vector<MxRecord> mx;
  std::vector<RawRecord> raw;  // any other type (SOA, CAA, ...)
  // When set, every query is answered with this CNAME followed by the records of the asked
  // type that the target's own rule has (chains are followed up to 8 deep).
  std::string cname;
  std::uint32_t ttl = 60;
  // Over UDP: an empty answer with the TC bit, so the client retries over TCP.
  bool truncate_udp = false;
  // Every reply (or drop) waits this long; other queries are answered meanwhile.
  std::chrono::milliseconds delay{0};
  // Queries of these types get no reply, the others are answered: one reply of a parallel
  // A/AAAA pair lost, as to the conntrack race.
  std::vector<std::uint16_t> drop_types;

  // IP literals; throws for anything else.
  static DnsRule answer(const std::vector<std::string>& addresses, std::uint32_t ttl = 60);
  static DnsRule nxdomain() { return of(Kind::NxDomain); }
  static DnsRule servfail() { return of(Kind::ServFail); }
  static DnsRule refused() { return of(Kind::Refused); }
  static DnsRule empty() { return of(Kind::Empty); }
  static DnsRule drop() { return of(Kind::Drop); }
  static DnsRule alias(std::string target);

  DnsRule& delayed(std::chrono::milliseconds by) {
    delay = by;
    return *this;
  }
  DnsRule& truncated() {
    truncate_udp = true;
    return *this;
  }

 private:
  static DnsRule of(Kind kind) {
    DnsRule rule;
    rule.kind = kind;
    return rule;
  }
};

// One query as received.
struct DnsQuery {
  std::string name;  // lower case, no trailing dot
  std::uint16_t type = 0;
  DnsTransport transport = DnsTransport::Udp;
  std::uint16_t source_port = 0;  // the client's
  // How long the responder actually held the answer back: the injected delay plus however
  // late its own timer fired, so tests can compare a measured latency without guessing
  // at this machine's scheduling.
  std::chrono::steady_clock::duration held{};
};

// An authoritative DNS server for tests, on 127.0.0.1 with one ephemeral port for UDP and
// TCP. It runs on a thread of its own (started here, stopped and joined by the destructor),
// so the code under test can run its io_context on the test's thread. Names without a rule
// are NXDOMAIN. All members are thread-safe.
class DnsResponder {
 public:
  DnsResponder();  // throws std::runtime_error if no port is free for both transports
  ~DnsResponder();
  DnsResponder(const DnsResponder&) = delete;
  DnsResponder& operator=(const DnsResponder&) = delete;

  std::uint16_t port() const { return port_; }
  // "127.0.0.1:PORT", as a resolver server option.
  std::string server() const;

  // `name` is matched case-insensitively, with or without a trailing dot.
  void set(const std::string& name, DnsRule rule);

  int query_count(const std::string& name, DnsTransport transport) const;
  int query_count(const std::string& name) const;  // over both transports
  int total_queries() const;
  std::vector<DnsQuery> queries() const;

 private:
  struct Server;
  std::unique_ptr<Server> server_;
  std::uint16_t port_ = 0;
  std::thread thread_;
};

}  // namespace reachprobe::test
