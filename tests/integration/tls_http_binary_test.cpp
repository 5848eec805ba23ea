// `type: tls` and `type: http` through the built binary, against TLS and HTTP servers on
// loopback with certificates made at run time: `check` as an operator reads it, and `run`
// with its /metrics.
#include <gtest/gtest.h>
#include <unistd.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <regex>

#include "tests/support/build_paths.hpp"
#include "tests/support/child_process.hpp"
#include "tests/support/exposition.hpp"
#include "tests/support/http_get.hpp"
#include "tests/support/temp_dir.hpp"
#include "tests/support/test_pki.hpp"
#include "tests/support/wait.hpp"
#include "tests/support/web_server.hpp"

namespace reachprobe::test {
namespace {

namespace asio = boost::asio;
namespace fs = std::filesystem;
using asio::ip::tcp;
using namespace std::chrono_literals;

const std::string kBinary = reachprobe_binary();

// The servers of the STS and API-server cases, each failure mode on a port of its own.
class TlsHttpBinaryTest : public ::testing::Test {
 protected:
  TlsHttpBinaryTest()
      : sts_(pki_.issue({"sts.test"})),
        expired_(pki_.issue({"sts.test"}, -48h, -24h)),
        intercepted_(TestPki("corporate proxy CA").issue({"sts.test"})),
        apiserver_(pki_.issue({"kubernetes.default.svc.test"})),
        silent_(io_, tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0)) {
    write_file(dir_ / "ca.crt", pki_.ca_pem());
    write_file(dir_ / "token", "service-account-token\n");
    apiserver_.set_reply("/readyz", WebReply{503, "[-]etcd failed: reason withheld", 0ms, {}});
    apiserver_.set_reply("/livez", WebReply{200, "ok", 120ms, {}});
  }

  std::string config(std::uint16_t listen) const {
    const std::string ca = (dir_ / "ca.crt").string();
    auto tls = [&](const std::string& name, const TestWebServer& server) {
      return "  - name: " + name + "\n    type: tls\n    hosts: [127.0.0.1]\n    ports: [" +
             std::to_string(server.port()) + "]\n    tls: {server_name: sts.test, ca_file: " + ca +
             "}\n";
    };
    auto https = [&](const std::string& name, const std::string& path) {
      return "  - name: " + name +
             "\n    type: http\n    url: https://127.0.0.1:" + std::to_string(apiserver_.port()) +
             path + "\n    bearer_token_file: " + (dir_ / "token").string() +
             "\n    tls: {server_name: kubernetes.default.svc.test, " + "ca_file: " + ca + "}\n";
    };
    std::string text = "interval: 2s\ntimeout: 500ms\nlisten: 127.0.0.1:" + std::to_string(listen) +
                       "\ntargets:\n";
    text += tls("sts", sts_);
    text += tls("sts-expired", expired_);
    text += tls("sts-intercepted", intercepted_);
    text += "  - name: sts-stalled\n    type: tls\n    hosts: [127.0.0.1]\n    ports: [" +
            std::to_string(silent_.local_endpoint().port()) +
            "]\n    tls: {server_name: sts.test, ca_file: " + ca + "}\n";
    text += https("apiserver-readyz", "/readyz");
    text += https("apiserver-livez", "/livez");
    text += "  - name: plain-http\n    type: http\n    url: http://127.0.0.1:" +
            std::to_string(plain_.port()) + "/healthz\n";
    const auto path = dir_ / "tls.yaml";
    std::ofstream(path) << text;
    return path.string();
  }

  asio::io_context io_;
  TestPki pki_;
  TestWebServer sts_, expired_, intercepted_, apiserver_, plain_;
  // Listens, never accepts: TCP connects, TLS never answers.
  tcp::acceptor silent_;
  test::TempDir dir_{"reachprobe-tls-it"};
};

TEST_F(TlsHttpBinaryTest, CheckExplainsEachTlsAndHttpFailure) {
  auto r = run_command({kBinary, "check", "--config", config(9754)}, 15s);
  // What an operator sees; kept in the test log for the record.
  std::cout << r.out;
  EXPECT_EQ(r.exit_code, 1) << r.err;
  const std::string prose = std::regex_replace(r.out, std::regex("\n +"), " ");
  auto row = [&](const std::string& target, const std::string& result) {
    return std::regex_search(r.out,
                             std::regex("(^|\n)" + target + " +[^ ]+ +[^ ]+ +" + result + " "));
  };
  EXPECT_TRUE(row("sts", "ok")) << r.out;
  EXPECT_TRUE(row("sts-expired", "tls_error")) << r.out;
  EXPECT_TRUE(row("sts-intercepted", "tls_error")) << r.out;
  EXPECT_TRUE(row("sts-stalled", "timeout")) << r.out;
  EXPECT_TRUE(row("apiserver-readyz", "bad_status")) << r.out;
  EXPECT_TRUE(row("apiserver-livez", "ok")) << r.out;
  EXPECT_TRUE(row("plain-http", "ok")) << r.out;
  EXPECT_NE(prose.find("certificate expired: CN=sts.test was valid until"), std::string::npos);
  EXPECT_NE(prose.find("unknown CA: CN=sts.test is issued by CN=corporate proxy CA"),
            std::string::npos)
      << prose;
  EXPECT_NE(prose.find("HTTP 503 Service Unavailable"), std::string::npos) << prose;
  EXPECT_NE(prose.find("[-]etcd failed"), std::string::npos) << prose;
  EXPECT_NE(r.out.find("7 endpoints: 3 ok, 4 failed"), std::string::npos) << r.out;

  auto json = run_command({kBinary, "check", "--config", config(9754), "--format", "json",
                           "--target", "apiserver-livez", "--target", "sts"},
                          15s);
  std::cout << json.out;
  EXPECT_EQ(json.exit_code, 0) << json.out << json.err;
  EXPECT_NE(json.out.find("\"http_status\": 200"), std::string::npos) << json.out;
  EXPECT_NE(json.out.find("\"cert_not_after\": \""), std::string::npos) << json.out;
  EXPECT_TRUE(std::regex_search(json.out, std::regex("\"first_byte\": 0\\.1[2-9]"))) << json.out;
  EXPECT_NE(json.out.find("\"tls\": "), std::string::npos) << json.out;
  // Every request carried the service-account token.
  for (const auto& request : apiserver_.requests()) {
    EXPECT_EQ(request.headers.at("authorization"), "Bearer service-account-token");
  }
}

TEST_F(TlsHttpBinaryTest, RunExposesPhasesResultsAndCertificateExpiry) {
  const auto port = free_tcp_port();
  ChildProcess daemon({kBinary, "run", "--config", config(port)});
  ASSERT_TRUE(wait_until([&] { return http_get("127.0.0.1", port, "/readyz").status == 200; }, 10s))
      << daemon.stderr_text();
  const auto metrics = http_get("127.0.0.1", port, "/metrics").body;
  const std::string sts_endpoint = "dst=\"127.0.0.1:" + std::to_string(sts_.port()) + "\"";
  const std::string sts = sts_endpoint + ",target=\"sts\"";
  auto expiry =
      sample(metrics, "reachprobe_tls_cert_expiry_timestamp_seconds{" + sts + ",type=\"tls\"}");
  ASSERT_TRUE(expiry) << metrics;
  const double now = static_cast<double>(std::chrono::duration_cast<std::chrono::seconds>(
                                             std::chrono::system_clock::now().time_since_epoch())
                                             .count());
  EXPECT_NEAR(*expiry - now, 30.0 * 86400, 600) << "the test certificate is valid for 30 days";
  EXPECT_NE(metrics.find("reachprobe_probe_duration_seconds_count{" + sts_endpoint +
                         ",phase=\"tls\",target=\"sts\",type=\"tls\",vantage=\"node\"}"),
            std::string::npos)
      << metrics;
  const std::string livez =
      "dst=\"https://127.0.0.1:" + std::to_string(apiserver_.port()) + "/livez\"";
  for (const char* phase : {"connect", "tls", "first_byte", "total"}) {
    EXPECT_NE(metrics.find("reachprobe_probe_duration_seconds_count{" + livez + ",phase=\"" +
                           phase + "\",target=\"apiserver-livez\",type=\"http\",vantage=\"node\"}"),
              std::string::npos)
        << phase << "\n"
        << metrics;
  }
  const std::string readyz = "dst=\"https://127.0.0.1:" + std::to_string(apiserver_.port()) +
                             "/readyz\",result=\"bad_status\",target=\"apiserver-readyz\"";
  EXPECT_GE(sample(metrics, "reachprobe_probes_total{" + readyz + ",type=\"http\"}").value_or(0),
            1);
  EXPECT_EQ(sample(metrics,
                   "reachprobe_probe_success{dst=\"127.0.0.1:" + std::to_string(expired_.port()) +
                       "\",target=\"sts-expired\",type=\"tls\"}"),
            std::optional<double>(0));

  const auto file = (dir_ / "metrics.txt").string();
  std::ofstream(file) << metrics;
  auto promtool = run_command({"sh", "-c", "promtool check metrics < '" + file + "'"});
  if (promtool.exit_code == 127) GTEST_SKIP() << "promtool is not installed (prometheus)";
  EXPECT_EQ(promtool.exit_code, 0) << promtool.out << promtool.err;
}

}  // namespace
}  // namespace reachprobe::test
