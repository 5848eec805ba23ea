#include "probe/sinks/log_sink.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <vector>

#include "probe/core/judge.hpp"
#include "probe/engine/scheduler.hpp"
#include "probe/probers/tcp.hpp"
#include "probe/sinks/metrics_sink.hpp"
#include "tests/support/dns_responder.hpp"
#include "tests/support/exposition.hpp"
#include "tests/support/log_capture.hpp"

namespace reachprobe {
namespace {

namespace asio = boost::asio;
using namespace std::chrono_literals;
using test::LogCapture;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;

// A clock the test moves by hand.
struct ManualClock {
  Clock::time_point now = Clock::time_point(1000s);
  std::function<Clock::time_point()> function() {
    return [this] { return now; };
  }
};

std::shared_ptr<const Target> target_named(const std::string& name) {
  auto t = std::make_shared<Target>();
  t->name = name;
  t->type = ProbeType::Tcp;
  return t;
}

Endpoint endpoint(const std::shared_ptr<const Target>& target, int i) {
  const std::string host = "10.0." + std::to_string(i / 250) + "." + std::to_string(i % 250);
  return Endpoint{target, host, 443, host + ":443"};
}

ProbeResult result(Outcome outcome, std::string message = {}) {
  ProbeResult r;
  r.outcome = outcome;
  r.message = std::move(message);
  return r;
}

class LogSinkTest : public ::testing::Test {
 protected:
  StateChangeLogSink::Options options(std::size_t lines) {
    return {.lines_per_window = lines, .window = 10s, .now = clock.function()};
  }
  ManualClock clock;
  LogCapture log;
  std::shared_ptr<const Target> api = target_named("api");
  std::shared_ptr<const Target> mesh = target_named("mesh");
};

TEST(WithThousands, GroupsDigits) {
  EXPECT_EQ(with_thousands(0), "0");
  EXPECT_EQ(with_thousands(999), "999");
  EXPECT_EQ(with_thousands(9812), "9,812");
  EXPECT_EQ(with_thousands(100000), "100,000");
  EXPECT_EQ(with_thousands(1234567), "1,234,567");
}

TEST_F(LogSinkTest, FewChangesAreOneLineEach) {
  StateChangeLogSink sink(options(100));
  for (int i = 0; i < 3; ++i) sink.record(endpoint(api, i), result(Outcome::Ok));
  EXPECT_THAT(log.lines(), IsEmpty()) << "a healthy start is not news";
  sink.record(endpoint(api, 0), result(Outcome::Refused, "connection refused"));
  sink.record(endpoint(api, 0), result(Outcome::Refused, "connection refused"));
  sink.record(endpoint(api, 1), result(Outcome::Timeout, "TCP SYN unanswered"));
  sink.record(endpoint(api, 1), result(Outcome::Ok));
  clock.now += 1h;
  sink.flush();
  EXPECT_THAT(
      log.lines(),
      ElementsAre("warning endpoint failing target=api type=tcp endpoint=10.0.0.0:443 address=\"\" "
                  "result=refused previous=ok message=\"connection refused\"",
                  "warning endpoint failing target=api type=tcp endpoint=10.0.0.1:443 address=\"\" "
                  "result=timeout previous=ok message=\"TCP SYN unanswered\"",
                  "info endpoint recovered target=api type=tcp endpoint=10.0.0.1:443 address=\"\" "
                  "result=ok previous=timeout"));
}

// A path that must be closed: its first timeout is the healthy start, a move between two
// ways of being closed is no news, `open` is a failure and closed again a recovery.
TEST_F(LogSinkTest, AClosedPathLogsOnlyWhenItOpensAndClosesAgain) {
  auto closed = std::make_shared<Target>();
  closed->name = "imds";
  closed->type = ProbeType::Tcp;
  closed->expectation = Expectation::Closed;
  StateChangeLogSink sink(options(100));
  auto judged = [&](Outcome o, std::string message = {}) {
    ProbeResult r = result(o, std::move(message));
    judge(*closed, r);
    return r;
  };
  sink.record(endpoint(closed, 0), judged(Outcome::Timeout));
  sink.record(endpoint(closed, 0), judged(Outcome::Refused));
  EXPECT_THAT(log.lines(), IsEmpty());
  sink.record(endpoint(closed, 0), judged(Outcome::Ok));
  sink.record(endpoint(closed, 0), judged(Outcome::Timeout));
  EXPECT_THAT(log.lines(),
              ElementsAre("warning endpoint failing target=imds type=tcp endpoint=10.0.0.0:443 "
                          "address=\"\" result=open previous=refused message=\"the path must be "
                          "closed (expect: closed) but accepted a connection\"",
                          "info endpoint recovered target=imds type=tcp endpoint=10.0.0.0:443 "
                          "address=\"\" result=timeout previous=open"));
}

TEST_F(LogSinkTest, PastTheThresholdAWindowIsSummarizedExactly) {
  StateChangeLogSink sink(options(10));
  for (int i = 0; i < 1000; ++i) sink.record(endpoint(api, i), result(Outcome::Ok));
  for (int i = 0; i < 300; ++i) sink.record(endpoint(mesh, i), result(Outcome::Ok));
  // A partition: every endpoint fails within one window, api refused, mesh timing out.
  for (int i = 0; i < 1000; ++i) {
    sink.record(endpoint(api, i), result(Outcome::Refused, "connection refused"));
  }
  for (int i = 0; i < 300; ++i) {
    clock.now += 10ms;  // spread over the window, as slots are
    sink.record(endpoint(mesh, i), result(Outcome::Timeout, "TCP SYN unanswered"));
  }
  EXPECT_EQ(log.lines().size(), 10u) << "only the first lines of the window";
  EXPECT_EQ(log.lines_with("endpoint failing").size(), 10u);
  EXPECT_EQ(sink.pending_changes(), 1290u);

  sink.flush();
  EXPECT_EQ(log.lines().size(), 10u) << "the window is not over yet";
  clock.now += 10s;
  sink.flush();
  const auto summaries = log.lines_with("endpoints of target");
  EXPECT_THAT(summaries,
              ElementsAre("warning 990 endpoints of target api started failing: refused "
                          "target=api type=tcp result=refused count=990 "
                          "example_endpoint=10.0.0.10:443 example_message=\"connection refused\"",
                          "warning 300 endpoints of target mesh started failing: timeout "
                          "target=mesh type=tcp result=timeout count=300 "
                          "example_endpoint=10.0.0.0:443 example_message=\"TCP SYN unanswered\""));
  EXPECT_EQ(sink.pending_changes(), 0u);
  EXPECT_EQ(log.lines().size(), 12u);

  // A new window: one line per change again, up to the threshold.
  for (int i = 0; i < 5; ++i) sink.record(endpoint(api, i), result(Outcome::Ok));
  EXPECT_EQ(log.lines_with("endpoint recovered").size(), 5u);
  EXPECT_EQ(sink.pending_changes(), 0u);
}

TEST_F(LogSinkTest, SummaryTellsRecoveriesAndNewReasonsApart) {
  StateChangeLogSink sink(options(0));
  for (int i = 0; i < 4; ++i) sink.record(endpoint(api, i), result(Outcome::Ok));
  EXPECT_THAT(log.lines(), IsEmpty());
  for (int i = 0; i < 4; ++i) sink.record(endpoint(api, i), result(Outcome::Timeout, "t"));
  for (int i = 0; i < 3; ++i) sink.record(endpoint(api, i), result(Outcome::Refused, "r"));
  for (int i = 0; i < 2; ++i) sink.record(endpoint(api, i), result(Outcome::Ok));
  // A first result that fails is a start of failing too.
  sink.record(endpoint(mesh, 1), result(Outcome::Unreachable, "no route"));
  EXPECT_THAT(log.lines(), IsEmpty());
  EXPECT_EQ(sink.pending_changes(), 10u);
  clock.now += 10s;
  // The next result (no state change) closes the window without a timer.
  sink.record(endpoint(api, 3), result(Outcome::Timeout, "t"));
  EXPECT_THAT(log.lines(),
              ElementsAre(HasSubstr("4 endpoints of target api started failing: timeout "),
                          HasSubstr("3 endpoints of target api now fail with: refused "),
                          HasSubstr("info 2 endpoints of target api recovered target=api "
                                    "type=tcp result=ok count=2"),
                          HasSubstr("1 endpoint of target mesh started failing: unreachable ")));
}

TEST_F(LogSinkTest, NothingCountedIsLostAtShutdown) {
  {
    StateChangeLogSink sink(options(1));
    sink.record(endpoint(api, 0), result(Outcome::Refused));
    sink.record(endpoint(api, 1), result(Outcome::Refused));
    sink.record(endpoint(api, 2), result(Outcome::Refused));
    EXPECT_EQ(log.lines().size(), 1u);
  }
  EXPECT_THAT(log.lines_with("of target"),
              ElementsAre(HasSubstr("2 endpoints of target api started failing: refused")));
}

TEST_F(LogSinkTest, ForgottenEndpointStartsAfresh) {
  StateChangeLogSink sink(options(100));
  sink.record(endpoint(api, 0), result(Outcome::Refused));
  sink.forget(endpoint(api, 0));
  sink.record(endpoint(api, 0), result(Outcome::Ok));
  EXPECT_EQ(log.lines().size(), 1u) << "a new endpoint that is ok is not news";
}

TEST_F(LogSinkTest, DefaultBoundFanOutCutIsLoggedOnceWhenItStartsAndOnceWhenItEnds) {
  StateChangeLogSink sink(options(100));
  auto dns = std::make_shared<Target>();
  dns->name = "pods";
  dns->type = ProbeType::Dns;
  const Endpoint parent{dns, "", 0, "pods.test."};
  auto cut = result(Outcome::Ok);
  cut.fanout.resize(kDefaultMaxConnect);
  cut.fanout_cut = ProbeResult::FanOutCut{
      .addresses = 1500, .connected = kDefaultMaxConnect, .default_bound = true};
  for (int round = 0; round < 5; ++round) sink.record(parent, cut);
  EXPECT_THAT(log.lines(),
              ElementsAre("warning dns fan-out cut to the default bound target=pods "
                          "endpoint=pods.test. addresses=1500 connected=64 fix=\"set max_connect "
                          "on the target to choose the number of addresses\""));
  // A failed DNS answer says nothing about the fan-out.
  sink.record(parent, result(Outcome::DnsTimeout));
  sink.record(parent, cut);
  EXPECT_EQ(log.lines_with("fan-out").size(), 1u);

  auto whole = result(Outcome::Ok);
  whole.fanout.resize(12);
  sink.record(parent, whole);
  sink.record(parent, whole);
  EXPECT_THAT(log.lines_with("fan-out"),
              ElementsAre(HasSubstr("cut to the default bound"),
                          "info dns fan-out no longer cut target=pods endpoint=pods.test. "
                          "addresses=12"));

  // A cut by max_connect is what the config asked for.
  auto chosen = result(Outcome::Ok);
  chosen.fanout.resize(5);
  chosen.fanout_cut = ProbeResult::FanOutCut{.addresses = 1500, .connected = 5};
  sink.record(parent, chosen);
  EXPECT_EQ(log.lines_with("fan-out").size(), 2u);
}

// A partition through the real Scheduler, TcpProber and MetricsSink: 300 endpoints start
// refusing in one interval. The log holds the first lines and one exact summary; the
// metrics hold every endpoint's failure.
TEST(LogSinkThroughTheScheduler, APartitionIsSummarizedAndNothingIsLostFromMetrics) {
  constexpr int kEndpoints = 300;
  constexpr std::size_t kLines = 20;
  asio::io_context io;
  test::DnsResponder dns;  // asked by nobody: every host is an IP literal
  dns::ResolverOptions resolver_options;
  resolver_options.servers = {dns.server()};
  ProberSet probers;
  probers.add(ProbeType::Tcp,
              std::make_shared<TcpProber>(std::make_shared<dns::Resolver>(io, resolver_options)));

  test::ClosedTcpPort closed;
  auto target = std::make_shared<Target>();
  target->name = "partitioned";
  target->type = ProbeType::Tcp;
  for (int i = 0; i < kEndpoints; ++i) {
    target->hosts.push_back("127.3." + std::to_string(i / 250) + "." + std::to_string(i % 250 + 1));
  }
  target->ports = {closed.port()};
  // A timeout no stall of a loaded machine reaches: a refusal must not turn into a timeout.
  target->interval = 3s;
  target->timeout = 2s;

  test::LogCapture log;
  MetricsSink metrics;
  // A window longer than the test: every change falls into the first one.
  StateChangeLogSink log_sink({.lines_per_window = kLines, .window = 1h});
  FanOutSink sinks({&metrics, &log_sink});
  Scheduler scheduler(io, sinks);
  scheduler.update(expand_endpoints({target}), probers);

  const auto refused_endpoints = [&] {
    std::string text;
    metrics.render(text);
    int n = 0;
    for (const auto& [name, value] : test::samples(text)) {
      if (name.rfind("reachprobe_probes_total{", 0) == 0 &&
          name.find("result=\"refused\"") != std::string::npos && value >= 1) {
        ++n;
      }
    }
    return n;
  };
  const auto deadline = Clock::now() + 20s;
  while (!scheduler.all_probed_once() && Clock::now() < deadline) io.run_one_for(10ms);
  ASSERT_TRUE(scheduler.all_probed_once());
  scheduler.stop();

  EXPECT_EQ(refused_endpoints(), kEndpoints) << "every failure is in the metrics";
  EXPECT_EQ(log.lines_with("endpoint failing").size(), kLines);
  EXPECT_EQ(log_sink.pending_changes(), kEndpoints - kLines);
  log_sink.flush(true);
  EXPECT_THAT(log.lines_with("of target"),
              ElementsAre(HasSubstr("warning 280 endpoints of target partitioned started "
                                    "failing: refused target=partitioned type=tcp "
                                    "result=refused count=280 example_endpoint=127.3.")));
  EXPECT_EQ(log.lines().size(), kLines + 1);
}

}  // namespace
}  // namespace reachprobe
