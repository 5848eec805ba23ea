#include "probe/dns/resolver.hpp"

#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/ip/udp.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <chrono>
#include <cstdlib>
#include <fstream>
#include <functional>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include "tests/support/dns_responder.hpp"
#include "tests/support/wait.hpp"

namespace reachprobe::dns {
namespace {

using namespace std::chrono_literals;
using boost::asio::ip::make_address;
using test::DnsRule;
using test::DnsTransport;

// A file with the given content, removed when the test ends.
class TempFile {
 public:
  explicit TempFile(const std::string& content) {
    std::string pattern = "/tmp/reachprobe-resolver-XXXXXX";
    const int fd = mkstemp(pattern.data());
    if (fd < 0) throw std::runtime_error("mkstemp failed");
    close(fd);
    path_ = pattern;
    std::ofstream(path_) << content;
  }
  ~TempFile() { unlink(path_.c_str()); }
  TempFile(const TempFile&) = delete;
  TempFile& operator=(const TempFile&) = delete;
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

std::chrono::milliseconds to_ms(Duration d) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(d);
}

bool contains(const std::vector<boost::asio::ip::address>& list, const std::string& address) {
  return std::find(list.begin(), list.end(), make_address(address)) != list.end();
}

class ResolverTest : public ::testing::Test {
 protected:
  // No search list; the system files are never read.
  TempFile resolv_conf_{"options ndots:1\n"};
  TempFile hosts_{"198.18.0.9 db.internal db\n"};
  test::DnsResponder dns_;
  boost::asio::io_context io_;

  ResolverOptions options() const {
    return ResolverOptions{.servers = {dns_.server()},
                           .resolv_conf_path = resolv_conf_.path(),
                           .hosts_path = hosts_.path(),
                           .attempt_timeout = 500ms,
                           .attempts = 3};
  }

  // Runs the io_context until `done` holds or `limit` passes.
  void run_until(const std::function<bool()>& done, std::chrono::milliseconds limit) {
    const auto end = Clock::now() + limit;
    for (int rounds = 0; rounds < 1000000 && !done() && Clock::now() < end; ++rounds) {
      if (io_.stopped()) io_.restart();
      // Short slices, so conditions set by the responder's thread are seen promptly.
      io_.run_one_for(std::min<std::chrono::milliseconds>(
          10ms, std::chrono::duration_cast<std::chrono::milliseconds>(end - Clock::now())));
    }
  }

  // Starts a resolution; the result lands in the returned slot when it completes.
  std::shared_ptr<std::optional<ResolveResult>> start(Resolver& resolver, const std::string& host,
                                                      Deadline deadline) {
    auto slot = std::make_shared<std::optional<ResolveResult>>();
    boost::asio::co_spawn(
        io_,
        [&resolver, host, deadline, slot]() -> boost::asio::awaitable<void> {
          *slot = co_await resolver.resolve(host, deadline);
        },
        boost::asio::detached);
    return slot;
  }

  ResolveResult resolve(Resolver& resolver, const std::string& host,
                        std::chrono::milliseconds timeout = 2s) {
    auto slot = start(resolver, host, Deadline::after(timeout));
    run_until([&] { return slot->has_value(); }, timeout + 3s);
    if (!slot->has_value()) {
      ADD_FAILURE() << "resolve(" << host << ") did not complete";
      return {};
    }
    return **slot;
  }
};

TEST_F(ResolverTest, ARecordsAreOkWithAddressesAndLatency) {
  dns_.set("a.test", DnsRule::answer({"198.18.0.1", "198.18.0.2"}));
  Resolver resolver(io_, options());
  auto result = resolve(resolver, "a.test");
  ASSERT_EQ(result.outcome, Outcome::Ok) << result.message;
  EXPECT_EQ(result.addresses.size(), 2u);
  EXPECT_TRUE(contains(result.addresses, "198.18.0.1"));
  EXPECT_TRUE(contains(result.addresses, "198.18.0.2"));
  EXPECT_GT(result.latency, Duration::zero());
  EXPECT_LT(result.latency, 1s);
  EXPECT_GE(dns_.query_count("a.test", DnsTransport::Udp), 1);
}

TEST_F(ResolverTest, AaaaRecordsAreOk) {
  dns_.set("six.test", DnsRule::answer({"2001:db8::1"}));
  Resolver resolver(io_, options());
  auto result = resolve(resolver, "six.test");
  ASSERT_EQ(result.outcome, Outcome::Ok) << result.message;
  ASSERT_EQ(result.addresses.size(), 1u);
  EXPECT_EQ(result.addresses[0], make_address("2001:db8::1"));
}

TEST_F(ResolverTest, CnameIsFollowed) {
  dns_.set("a.test", DnsRule::answer({"198.18.0.1"}));
  dns_.set("alias.test", DnsRule::alias("a.test"));
  Resolver resolver(io_, options());
  auto result = resolve(resolver, "alias.test");
  ASSERT_EQ(result.outcome, Outcome::Ok) << result.message;
  EXPECT_TRUE(contains(result.addresses, "198.18.0.1"));
}

TEST_F(ResolverTest, NxDomainNamesTheNameAndServer) {
  dns_.set("gone.test", DnsRule::nxdomain());
  Resolver resolver(io_, options());
  auto result = resolve(resolver, "gone.test");
  EXPECT_EQ(result.outcome, Outcome::NxDomain);
  EXPECT_NE(result.message.find("gone.test"), std::string::npos) << result.message;
  EXPECT_NE(result.message.find(dns_.server()), std::string::npos) << result.message;
  EXPECT_TRUE(result.addresses.empty());
}

TEST_F(ResolverTest, UnknownNameIsNxDomain) {
  Resolver resolver(io_, options());
  EXPECT_EQ(resolve(resolver, "unknown.test").outcome, Outcome::NxDomain);
}

TEST_F(ResolverTest, ServFail) {
  dns_.set("broken.test", DnsRule::servfail());
  Resolver resolver(io_, options());
  auto result = resolve(resolver, "broken.test");
  EXPECT_EQ(result.outcome, Outcome::ServFail);
  EXPECT_NE(result.message.find("broken.test"), std::string::npos) << result.message;
  EXPECT_NE(result.message.find(dns_.server()), std::string::npos) << result.message;
}

TEST_F(ResolverTest, RefusedIsDnsRefused) {
  dns_.set("acl.test", DnsRule::refused());
  Resolver resolver(io_, options());
  auto result = resolve(resolver, "acl.test");
  EXPECT_EQ(result.outcome, Outcome::DnsRefused);
  EXPECT_NE(result.message.find("acl.test"), std::string::npos) << result.message;
}

TEST_F(ResolverTest, EmptyNoErrorIsNoAnswer) {
  dns_.set("empty.test", DnsRule::empty());
  Resolver resolver(io_, options());
  auto result = resolve(resolver, "empty.test");
  EXPECT_EQ(result.outcome, Outcome::NoAnswer);
  EXPECT_NE(result.message.find("empty.test"), std::string::npos) << result.message;
}

TEST_F(ResolverTest, MalformedNameIsErrorWithoutQuery) {
  Resolver resolver(io_, options());
  // A label over 63 bytes. Appended, not `std::string(70, 'a') + ".test"`: GCC 12 reports a
  // false -Warray-bounds on that temporary's move at -O2 (GCC bug 105329).
  std::string name(70, 'a');
  name += ".test";
  auto result = resolve(resolver, name);
  EXPECT_EQ(result.outcome, Outcome::Error);
  EXPECT_NE(result.message.find("aaaa.test"), std::string::npos) << result.message;
  EXPECT_EQ(dns_.total_queries(), 0);
  EXPECT_EQ(resolve(resolver, "").outcome, Outcome::Error);
}

TEST_F(ResolverTest, TruncatedUdpAnswerIsRetriedOverTcp) {
  dns_.set("big.test", DnsRule::answer({"198.18.0.7"}).truncated());
  Resolver resolver(io_, options());
  auto result = resolve(resolver, "big.test");
  ASSERT_EQ(result.outcome, Outcome::Ok) << result.message;
  EXPECT_TRUE(contains(result.addresses, "198.18.0.7"));
  EXPECT_GE(dns_.query_count("big.test", DnsTransport::Udp), 1);
  EXPECT_GE(dns_.query_count("big.test", DnsTransport::Tcp), 1);
}

TEST_F(ResolverTest, LatencyMeasuresTheServersDelay) {
  dns_.set("slow.test", DnsRule::answer({"198.18.0.3"}).delayed(150ms));
  Resolver resolver(io_, options());
  auto result = resolve(resolver, "slow.test");
  ASSERT_EQ(result.outcome, Outcome::Ok) << result.message;
  EXPECT_GE(to_ms(result.latency), 150ms);
  EXPECT_LT(to_ms(result.latency), 175ms);
}

TEST_F(ResolverTest, DroppedQueryIsDnsTimeoutAtTheDeadline) {
  dns_.set("void.test", DnsRule::drop());
  Resolver resolver(io_, options());
  const auto started = Clock::now();
  auto result = resolve(resolver, "void.test", 300ms);
  const auto elapsed = Clock::now() - started;
  EXPECT_EQ(result.outcome, Outcome::DnsTimeout);
  EXPECT_NE(result.message.find("void.test"), std::string::npos) << result.message;
  EXPECT_NE(result.message.find(dns_.server()), std::string::npos) << result.message;
  EXPECT_GE(elapsed, 300ms);
  EXPECT_LT(elapsed, 400ms) << "the deadline plus a margin for a loaded (or sanitized) run";
  // The lookup starts a moment after the deadline was set, so its own clock reads a hair less.
  EXPECT_GE(to_ms(result.latency), 290ms);
}

TEST_F(ResolverTest, LostQueriesAreRetransmittedUntilAttemptsRunOut) {
  dns_.set("void.test", DnsRule::drop());
  auto opts = options();
  opts.attempt_timeout = 100ms;
  opts.attempts = 2;
  Resolver resolver(io_, opts);
  auto result = resolve(resolver, "void.test", 3s);
  EXPECT_EQ(result.outcome, Outcome::DnsTimeout);
  EXPECT_NE(result.message.find("retries exhausted"), std::string::npos) << result.message;
  // A and AAAA, each sent twice: 100 ms, then 200 ms.
  EXPECT_EQ(dns_.query_count("void.test", DnsTransport::Udp), 4);
  EXPECT_GE(to_ms(result.latency), 300ms);
  EXPECT_LT(to_ms(result.latency), 1s);
}

TEST_F(ResolverTest, ClosedServerPortIsDnsTimeout) {
  // A port nobody listens on: bind one, then give it back.
  std::uint16_t port = 0;
  {
    boost::asio::io_context scratch;
    boost::asio::ip::udp::socket socket(
        scratch, boost::asio::ip::udp::endpoint(boost::asio::ip::address_v4::loopback(), 0));
    port = socket.local_endpoint().port();
  }
  auto opts = options();
  opts.servers = {"127.0.0.1:" + std::to_string(port)};
  Resolver resolver(io_, opts);
  auto result = resolve(resolver, "a.test", 1500ms);
  EXPECT_EQ(result.outcome, Outcome::DnsTimeout) << result.message;
  EXPECT_NE(result.message.find("127.0.0.1:" + std::to_string(port)), std::string::npos)
      << result.message;
}

TEST_F(ResolverTest, IpLiteralsNeedNoQuery) {
  Resolver resolver(io_, options());
  for (const std::string literal : {"198.18.0.5", "::1", "2001:db8::5"}) {
    auto result = resolve(resolver, literal);
    ASSERT_EQ(result.outcome, Outcome::Ok) << literal << ": " << result.message;
    ASSERT_EQ(result.addresses.size(), 1u);
    EXPECT_EQ(result.addresses[0], make_address(literal));
    EXPECT_EQ(result.latency, Duration::zero());
  }
  auto bracketed = resolve(resolver, "[::1]");
  ASSERT_EQ(bracketed.outcome, Outcome::Ok) << bracketed.message;
  EXPECT_EQ(bracketed.addresses, std::vector{make_address("::1")});
  EXPECT_EQ(dns_.total_queries(), 0);
}

TEST_F(ResolverTest, HostsFileAnswersWithoutQuery) {
  Resolver resolver(io_, options());
  for (const std::string name : {"db.internal", "DB", "db.internal."}) {
    auto result = resolve(resolver, name);
    ASSERT_EQ(result.outcome, Outcome::Ok) << name << ": " << result.message;
    EXPECT_EQ(result.addresses, std::vector{make_address("198.18.0.9")}) << name;
  }
  EXPECT_EQ(dns_.total_queries(), 0);
}

TEST_F(ResolverTest, LocalhostNeedsNoQueryWithoutHostsEntry) {
  Resolver resolver(io_, options());  // the test hosts file has no localhost line
  for (const std::string name : {"localhost", "LocalHost.", "api.localhost"}) {
    auto result = resolve(resolver, name);
    ASSERT_EQ(result.outcome, Outcome::Ok) << name << ": " << result.message;
    EXPECT_TRUE(contains(result.addresses, "127.0.0.1")) << name;
    EXPECT_TRUE(contains(result.addresses, "::1")) << name;
  }
  EXPECT_EQ(dns_.total_queries(), 0);
}

TEST_F(ResolverTest, LocalhostNeedsNoQueryWithSystemHostsFile) {
  auto opts = options();
  opts.hosts_path.clear();  // c-ares reads /etc/hosts and falls back to RFC 6761 itself
  Resolver resolver(io_, opts);
  auto result = resolve(resolver, "localhost");
  ASSERT_EQ(result.outcome, Outcome::Ok) << result.message;
  EXPECT_TRUE(contains(result.addresses, "127.0.0.1"));
  EXPECT_EQ(dns_.total_queries(), 0);
}

TEST_F(ResolverTest, SearchDomainsAndNdotsFromResolvConf) {
  TempFile resolv_conf("search test.local\noptions ndots:1\n");
  dns_.set("svc.test.local", DnsRule::answer({"198.18.0.4"}));
  auto opts = options();
  opts.resolv_conf_path = resolv_conf.path();
  Resolver resolver(io_, opts);
  auto result = resolve(resolver, "svc");
  ASSERT_EQ(result.outcome, Outcome::Ok) << result.message;
  EXPECT_EQ(result.addresses, std::vector{make_address("198.18.0.4")});
  EXPECT_GE(dns_.query_count("svc.test.local"), 1);
  EXPECT_EQ(dns_.query_count("svc"), 0);  // fewer dots than ndots: the search list comes first
}

TEST_F(ResolverTest, MalformedServersAreRejected) {
  for (const std::string bad :
       {"", "dns.example.com", "1.2.3.4:", "1.2.3.4:0", "1.2.3.4:70000", "1.2.3.4:53x", "[::1",
        "[::1]53", "[1.2.3.4]:53", "1.2.3:53", "1.2.3.4:53:1", "fe80::1%eth0"}) {
    auto opts = options();
    opts.servers = {bad};
    try {
      Resolver resolver(io_, opts);
      ADD_FAILURE() << "accepted \"" << bad << "\"";
    } catch (const std::invalid_argument& e) {
      EXPECT_NE(std::string(e.what()).find("DNS server \"" + bad + "\""), std::string::npos)
          << e.what();
    }
  }
}

TEST_F(ResolverTest, WellFormedServersAreAccepted) {
  auto opts = options();
  opts.servers = {"127.0.0.1", "127.0.0.2:5353", "[::1]:5354", "::2", "[::3]"};
  Resolver resolver(io_, opts);
  EXPECT_EQ(resolver.servers(), "127.0.0.1:53,127.0.0.2:5353,[::1]:5354,[::2]:53,[::3]:53");
}

TEST_F(ResolverTest, UnreadableFilesAreRejected) {
  auto opts = options();
  opts.resolv_conf_path = "/nonexistent/resolv.conf";
  EXPECT_THROW(Resolver(io_, opts), std::invalid_argument);
  opts = options();
  opts.hosts_path = "/nonexistent/hosts";
  EXPECT_THROW(Resolver(io_, opts), std::invalid_argument);
}

TEST_F(ResolverTest, PassedDeadlineIsDnsTimeoutWithoutQuery) {
  dns_.set("a.test", DnsRule::answer({"198.18.0.1"}));
  Resolver resolver(io_, options());
  auto slot = start(resolver, "a.test", Deadline{Clock::now() - 1ms});
  run_until([&] { return slot->has_value(); }, 2s);
  ASSERT_TRUE(slot->has_value());
  EXPECT_EQ((*slot)->outcome, Outcome::DnsTimeout);
  EXPECT_EQ(dns_.total_queries(), 0);
}

TEST_F(ResolverTest, DestroyedWithQueryInFlightEndsItWithError) {
  dns_.set("void.test", DnsRule::drop());
  auto resolver = std::make_unique<Resolver>(io_, options());
  auto slot = start(*resolver, "void.test", Deadline::after(10s));
  run_until([&] { return dns_.query_count("void.test") >= 1; }, 2s);
  ASSERT_GE(dns_.query_count("void.test"), 1);
  ASSERT_FALSE(slot->has_value());
  const auto destroyed = Clock::now();
  resolver.reset();
  run_until([&] { return slot->has_value(); }, 2s);
  ASSERT_TRUE(slot->has_value());
  EXPECT_EQ((*slot)->outcome, Outcome::Error);
  EXPECT_NE((*slot)->message.find("shut down"), std::string::npos) << (*slot)->message;
  EXPECT_LT(Clock::now() - destroyed, 1s);
  // Handlers left over from the channel's sockets and timer must be harmless.
  run_until([] { return false; }, 100ms);
}

// The daemon's shape at exit: the probe in flight owns the prober, which owns the resolver,
// whose channel owns the probe's completion. When the io_context goes away first, nothing
// else breaks that cycle.
TEST_F(ResolverTest, AnIoContextDestroyedWithAQueryInFlightFreesTheAwaitingFrame) {
  dns_.set("void.test", DnsRule::drop());
  std::weak_ptr<Resolver> resolver_alive;
  std::weak_ptr<int> frame_alive;
  bool resumed = false;
  {
    boost::asio::io_context io;
    auto resolver = std::make_shared<Resolver>(io, options());
    resolver_alive = resolver;
    auto in_frame = std::make_shared<int>(0);
    frame_alive = in_frame;
    boost::asio::co_spawn(
        io,
        [resolver, in_frame, &resumed]() -> boost::asio::awaitable<void> {
          co_await resolver->resolve("void.test", Deadline::after(10s));
          resumed = true;
        },
        boost::asio::detached);
    resolver.reset();
    in_frame.reset();
    const auto end = Clock::now() + 2s;
    while (dns_.query_count("void.test") == 0 && Clock::now() < end) io.run_one_for(10ms);
    ASSERT_GE(dns_.query_count("void.test"), 1);
    ASSERT_FALSE(frame_alive.expired());
  }
  EXPECT_FALSE(resumed) << "a stopped io_context resumes nothing";
  EXPECT_TRUE(frame_alive.expired()) << "the coroutine frame leaked";
  EXPECT_TRUE(resolver_alive.expired()) << "the resolver (and its c-ares channel) leaked";
}

TEST_F(ResolverTest, ResolveStartedAfterDestructionIsError) {
  auto resolver = std::make_unique<Resolver>(io_, options());
  auto pending = resolver->resolve("a.test", Deadline::after(2s));
  resolver.reset();
  std::optional<ResolveResult> result;
  boost::asio::co_spawn(
      io_,
      [&pending, &result]() -> boost::asio::awaitable<void> {
        result = co_await std::move(pending);
      },
      boost::asio::detached);
  run_until([&] { return result.has_value(); }, 2s);
  ASSERT_TRUE(result.has_value());
  EXPECT_EQ(result->outcome, Outcome::Error);
  EXPECT_EQ(dns_.total_queries(), 0);
}

TEST_F(ResolverTest, ManyConcurrentResolutionsAllComplete) {
  constexpr int kCount = 200;
  auto name = [](int i) { return "h" + std::to_string(i) + ".test"; };
  auto address = [](int i) {
    return "198.18." + std::to_string(i / 200) + "." + std::to_string(i % 200 + 1);
  };
  for (int i = 0; i < kCount; ++i) dns_.set(name(i), DnsRule::answer({address(i)}));
  Resolver resolver(io_, options());
  std::vector<std::shared_ptr<std::optional<ResolveResult>>> slots;
  for (int i = 0; i < kCount; ++i) slots.push_back(start(resolver, name(i), Deadline::after(5s)));
  auto all_done = [&] {
    return std::all_of(slots.begin(), slots.end(), [](auto& s) { return s->has_value(); });
  };
  run_until(all_done, 8s);
  ASSERT_TRUE(all_done());
  for (int i = 0; i < kCount; ++i) {
    const auto& result = **slots[i];
    ASSERT_EQ(result.outcome, Outcome::Ok) << name(i) << ": " << result.message;
    EXPECT_EQ(result.addresses, std::vector{make_address(address(i))}) << name(i);
  }
}

}  // namespace
}  // namespace reachprobe::dns
