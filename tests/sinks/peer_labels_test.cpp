// peer_node / peer_zone of discovered endpoints: labels of their series, placed in sorted
// order, never part of their identity; a peer that moves to another node has its series
// replaced when the scheduler takes the new set.
#include <gtest/gtest.h>

#include <boost/asio/io_context.hpp>

#include "probe/engine/scheduler.hpp"
#include "probe/sinks/metrics_sink.hpp"
#include "tests/support/exposition.hpp"

namespace reachprobe {
namespace {

namespace asio = boost::asio;
using namespace std::chrono_literals;

std::shared_ptr<Target> discovered(Duration interval = 10s) {
  auto t = std::make_shared<Target>();
  t->name = "mesh";
  t->type = ProbeType::Tcp;
  t->interval = interval;
  t->timeout = interval / 2;
  t->labels = {{"group", "nodes"}};
  t->discover = Discover{"monitoring", "reachprobe", DiscoverAddresses::Endpoints, "", false};
  return t;
}

Endpoint peer(const std::shared_ptr<const Target>& t, std::string node, std::string zone) {
  Endpoint e{t, "10.0.1.5", 9754, "10.0.1.5:9754"};
  if (!node.empty() || !zone.empty()) {
    e.peer = std::make_shared<const PeerLabels>(PeerLabels{std::move(node), std::move(zone)});
  }
  return e;
}

ProbeResult ok() {
  ProbeResult r;
  r.outcome = Outcome::Ok;
  r.set_phase(Phase::Total, 2ms);
  return r;
}

std::string scrape(const MetricsSink& sink) {
  std::string out;
  sink.render(out);
  return out;
}

TEST(PeerLabels, AreLabelsOfEverySeriesInSortedOrder) {
  MetricsSink sink;
  auto t = discovered();
  sink.record(peer(t, "ip-10-0-1-5.eu-west-1.compute.internal", "eu-west-1a"), ok());
  const std::string text = scrape(sink);
  const std::string labels =
      "dst=\"10.0.1.5:9754\",group=\"nodes\",peer_node=\"ip-10-0-1-5.eu-west-1.compute."
      "internal\",peer_zone=\"eu-west-1a\"";
  EXPECT_EQ(
      test::sample(text, "reachprobe_probe_success{" + labels + ",target=\"mesh\",type=\"tcp\"}"),
      1.0)
      << text;
  EXPECT_EQ(test::sample(text, "reachprobe_probes_total{" + labels +
                                   ",result=\"ok\",target=\"mesh\",type=\"tcp\"}"),
            1.0)
      << text;
  EXPECT_EQ(test::sample(text, "reachprobe_probe_duration_seconds_count{" + labels +
                                   ",phase=\"total\",target=\"mesh\",type=\"tcp\"}"),
            1.0)
      << text;
  // Without them, no empty labels.
  MetricsSink plain;
  plain.record(peer(t, "", ""), ok());
  EXPECT_EQ(scrape(plain).find("peer_"), std::string::npos);
}

TEST(PeerLabels, AreNotIdentity) {
  auto t = discovered();
  EXPECT_EQ(peer(t, "a", "z").key(), peer(t, "b", "y").key());
  MetricsSink sink;
  sink.record(peer(t, "a", "z"), ok());
  sink.record(peer(t, "a", "z"), ok());
  EXPECT_EQ(sink.endpoint_count(), 1u);
}

class OkProber final : public Prober {
 public:
  asio::awaitable<ProbeResult> probe(const Endpoint&, Deadline) override { co_return ok(); }
};

TEST(PeerLabels, APeerOnAnotherNodeReplacesItsSeries) {
  asio::io_context io;
  ProberSet probers;
  probers.add(ProbeType::Tcp, std::make_shared<OkProber>());
  MetricsSink sink;
  Scheduler scheduler(io, sink);
  auto t = discovered(50ms);
  scheduler.update({peer(t, "node-a", "")}, probers);
  io.run_for(120ms);
  ASSERT_NE(scrape(sink).find("peer_node=\"node-a\""), std::string::npos);
  // The same endpoint, now on node-b: one set of series, with the new node.
  scheduler.update({peer(t, "node-b", "")}, probers);
  EXPECT_EQ(scrape(sink).find("peer_node=\"node-a\""), std::string::npos);
  io.restart();
  io.run_for(120ms);
  const std::string text = scrape(sink);
  EXPECT_EQ(text.find("peer_node=\"node-a\""), std::string::npos) << text;
  EXPECT_NE(text.find("peer_node=\"node-b\""), std::string::npos) << text;
  EXPECT_EQ(scheduler.endpoint_count(), 1u);
  // Same node again: kept as is.
  scheduler.update({peer(t, "node-b", "")}, probers);
  EXPECT_NE(scrape(sink).find("peer_node=\"node-b\""), std::string::npos);
  scheduler.stop();
}

}  // namespace
}  // namespace reachprobe
