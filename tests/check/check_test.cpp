#include "probe/check/check.hpp"

#include <gtest/gtest.h>

#include <sstream>

#include "probe/check/hints.hpp"

namespace reachprobe {
namespace {

using namespace std::chrono_literals;

std::vector<CheckRow> sample_rows() {
  auto t = std::make_shared<Target>();
  t->name = "control-plane";
  t->type = ProbeType::Tcp;
  t->hosts = {"10.0.0.10"};
  t->ports = {443, 9443};
  auto endpoints = expand_endpoints({t});
  std::vector<CheckRow> rows;
  ProbeResult ok;
  ok.outcome = Outcome::Ok;
  ok.address = "10.0.0.10";
  ok.set_phase(Phase::Connect, 1200us);
  ok.set_phase(Phase::Total, 1250us);
  rows.push_back({endpoints[0], ok, ""});
  ProbeResult timeout;
  timeout.outcome = Outcome::Timeout;
  timeout.address = "10.0.0.10";
  timeout.message = "no answer from 10.0.0.10:9443 within 2s (TCP SYN unanswered \"quoted\")";
  timeout.set_phase(Phase::Connect, 2s);
  timeout.set_phase(Phase::Total, 2s);
  rows.push_back({endpoints[1], timeout, hint_for(endpoints[1], timeout)});
  return rows;
}

TEST(CheckTable, FitsEightyColumnsAndExplainsFailures) {
  auto text = format_check_table(sample_rows());
  std::istringstream in(text);
  std::string line;
  int lines = 0;
  while (std::getline(in, line)) {
    ++lines;
    EXPECT_LE(line.size(), 80u) << line;
  }
  EXPECT_GT(lines, 4);
  EXPECT_NE(text.find("control-plane 10.0.0.10:443"), std::string::npos) << text;
  EXPECT_NE(text.find("timeout"), std::string::npos);
  EXPECT_NE(text.find("why: no answer from 10.0.0.10:9443"), std::string::npos) << text;
  EXPECT_NE(text.find("fix: 9443 is the admission-webhook port"), std::string::npos) << text;
  EXPECT_NE(text.find("2 endpoints: 1 ok, 1 failed"), std::string::npos);
  EXPECT_NE(text.find("1.2ms"), std::string::npos);
  EXPECT_NE(text.find("2.00s"), std::string::npos);
}

TEST(CheckTable, OkRowShowsWhatItFound) {
  auto t = std::make_shared<Target>();
  t->name = "am";
  t->type = ProbeType::Dns;
  t->query = "alertmanager-operated";
  ProbeResult ok;
  ok.outcome = Outcome::Ok;
  ok.message = "3 A records for alertmanager-operated.monitoring.svc.cluster.local";
  ok.set_phase(Phase::Total, 1ms);
  auto text = format_check_table({{expand_endpoints({t}).front(), ok, ""}});
  EXPECT_NE(text.find("got: 3 A records for alertmanager-operated.monitoring.svc.cluster.local"),
            std::string::npos)
      << text;
  EXPECT_EQ(text.find("why:"), std::string::npos);
}

TEST(CheckJson, HasTheFieldsOfTheSpec) {
  auto text = format_check_json(sample_rows());
  EXPECT_NE(text.find(R"("target": "control-plane")"), std::string::npos) << text;
  EXPECT_NE(text.find(R"("type": "tcp")"), std::string::npos);
  EXPECT_NE(text.find(R"("endpoint": "10.0.0.10:9443")"), std::string::npos);
  EXPECT_NE(text.find(R"("address": "10.0.0.10")"), std::string::npos);
  EXPECT_NE(text.find(R"("result": "timeout")"), std::string::npos);
  EXPECT_NE(text.find(R"("duration_seconds": 2.000000)"), std::string::npos);
  EXPECT_NE(text.find(R"("phases": {"connect": 2.000000, "total": 2.000000})"), std::string::npos);
  EXPECT_NE(text.find(R"(unanswered \"quoted\")"), std::string::npos) << "escaped";
  EXPECT_NE(text.find(R"("ok": 1, "failed": 1})"), std::string::npos);
}

// A closed path's timeout is a success in every form check writes: the row's `success`,
// the summary counts, and the vantage with it.
TEST(CheckJson, AClosedPathsTimeoutIsASuccessEverywhere) {
  auto rows = sample_rows();
  auto closed = std::make_shared<Target>(*rows[1].endpoint.target);
  closed->expectation = Expectation::Closed;
  closed->vantage = Vantage::Pod;
  rows[1].endpoint.target = closed;
  rows[1].result.expectation = Expectation::Closed;
  rows[0].endpoint.target = closed;
  auto json = format_check_json(rows);
  EXPECT_NE(json.find(R"("result": "timeout", "vantage": "pod", "expect": "closed", "success": true)"),
            std::string::npos)
      << json;
  EXPECT_NE(json.find(R"("ok": 2, "failed": 0})"), std::string::npos) << json;
  auto table = format_check_table(rows);
  EXPECT_NE(table.find("2 endpoints: 2 ok, 0 failed (vantage pod)"), std::string::npos) << table;
  EXPECT_EQ(table.find("why:"), std::string::npos) << table;
}

// What the probe proved beyond its result word is a member of its own: a script tells an MTU
// black hole from a dropped port without reading the message.
TEST(CheckJson, FindingIsAMemberNullWhenNothingWasProved) {
  auto rows = sample_rows();
  rows[1].result.finding = Finding::MtuBlackHole;
  auto json = format_check_json(rows);
  EXPECT_NE(json.find(R"("finding": "mtu_black_hole")"), std::string::npos) << json;
  EXPECT_NE(json.find(R"("finding": null)"), std::string::npos) << json;
  rows[1].result.finding = Finding::NoReadyEndpoints;
  EXPECT_NE(format_check_json(rows).find(R"("finding": "no_ready_endpoints")"),
            std::string::npos);
}

TEST(CheckJson, NullAddressWhenNothingWasContacted) {
  auto rows = sample_rows();
  rows[1].result.address.clear();
  EXPECT_NE(format_check_json(rows).find(R"("address": null)"), std::string::npos);
}

std::vector<CheckRow> cut_dns_row(bool default_bound) {
  auto t = std::make_shared<Target>();
  t->name = "pods";
  t->type = ProbeType::Dns;
  t->query = "pods.test.";
  t->connect_port = 9093;
  ProbeResult r;
  r.outcome = Outcome::Error;
  r.message = "expected at least 2000 A records for pods.test, got 1500: ...";
  r.fanout_cut = ProbeResult::FanOutCut{.addresses = 1500,
                                        .connected = default_bound ? kDefaultMaxConnect : 5,
                                        .default_bound = default_bound};
  return {CheckRow{expand_endpoints({t}).front(), r, ""}};
}

TEST(CheckTable, FailedDnsRowStillSaysTheDefaultBoundCutItsFanOut) {
  auto text = format_check_table(cut_dns_row(true));
  EXPECT_NE(text.find("    note: connected to 64 of 1500 addresses (the default bound;"),
            std::string::npos)
      << text;
  EXPECT_EQ(format_check_table(cut_dns_row(false)).find("note:"), std::string::npos)
      << "max_connect is what was asked for";
}

TEST(CheckJson, FanOutCutIsAField) {
  EXPECT_NE(format_check_json(cut_dns_row(true))
                .find(R"("fanout_cut": {"addresses": 1500, "connected": 64, "bound": "default"})"),
            std::string::npos);
  EXPECT_NE(
      format_check_json(cut_dns_row(false))
          .find(R"("fanout_cut": {"addresses": 1500, "connected": 5, "bound": "max_connect"})"),
      std::string::npos);
  EXPECT_EQ(format_check_json(sample_rows()).find("fanout_cut"), std::string::npos);
}

TEST(FormatLatency, PicksAReadableUnit) {
  EXPECT_EQ(format_latency(850us), "850us");
  EXPECT_EQ(format_latency(12300us), "12.3ms");
  EXPECT_EQ(format_latency(2s), "2.00s");
  // Never "1000us" or "1000.0ms": the next unit takes over where rounding reaches it.
  EXPECT_EQ(format_latency(999999ns), "1.0ms");
  EXPECT_EQ(format_latency(999990us), "1.00s");
  EXPECT_EQ(format_latency(999400us), "999.4ms");
}

}  // namespace
}  // namespace reachprobe
