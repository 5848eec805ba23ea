// The daemon's HTTP server with a web config: TLS (and certificate rotation), basic and
// bearer auth on /metrics, through a real HTTPS client (the http prober).
#include <gtest/gtest.h>
#include <unistd.h>

#include <boost/asio/io_context.hpp>
#include <filesystem>
#include <future>
#include <thread>

#include "probe/http/server.hpp"
#include "probe/probers/http.hpp"
#include "tests/support/bcrypt.hpp"
#include "tests/support/http_get.hpp"
#include "tests/support/run_probe.hpp"
#include "tests/support/temp_dir.hpp"
#include "tests/support/test_pki.hpp"

namespace reachprobe::http {
namespace {

namespace asio = boost::asio;
namespace fs = std::filesystem;
using namespace std::chrono_literals;

class ServerWebConfigTest : public ::testing::Test {
 protected:
  ServerWebConfigTest() {
    test::write_file(dir_ / "ca.crt", pki_.ca_pem());
    install_certificate(pki_.issue({"127.0.0.1"}, -1h, 24h * 30));
    resolver_ = std::make_shared<dns::Resolver>(client_io_, dns::ResolverOptions{});
    client_ = std::make_unique<HttpProber>(resolver_);
  }
  ~ServerWebConfigTest() override {
    if (server_) asio::post(server_io_, [this] { server_->stop(); });
    if (thread_.joinable()) {
      auto done = std::async(std::launch::async, [this] { thread_.join(); });
      if (done.wait_for(5s) != std::future_status::ready) {
        ADD_FAILURE() << "the server's io_context did not finish after stop()";
        server_io_.stop();
        done.wait();
      }
    }
    server_.reset();
  }

  void install_certificate(const test::TestCertificate& certificate) {
    // As cert-manager and kubelet do: new files swapped in, never written in place.
    test::write_file(dir_ / "tls.crt.new", certificate.cert_pem);
    test::write_file(dir_ / "tls.key.new", certificate.key_pem);
    fs::rename(dir_ / "tls.key.new", dir_ / "tls.key");
    fs::rename(dir_ / "tls.crt.new", dir_ / "tls.crt");
  }
  WebTlsConfig tls() const {
    WebTlsConfig t;
    t.cert_file = (dir_ / "tls.crt").string();
    t.key_file = (dir_ / "tls.key").string();
    return t;
  }
  void start(WebConfig web) {
    ServerOptions options;
    options.listen = "127.0.0.1:0";
    options.web = std::move(web);
    Handlers handlers;
    handlers.open_metrics = [] { return metrics_text("# TYPE up gauge\nup 1\n"); };
    handlers.ready = [] { return true; };
    server_ = std::make_unique<Server>(server_io_, options, std::move(handlers));
    port_ = server_->local_endpoint().port();
    thread_ = std::thread([this] { server_io_.run(); });
  }
  // A request as a scraper makes it, over https when `https`.
  ProbeResult get(const std::string& path, bool https,
                  std::vector<std::pair<std::string, std::string>> headers = {}) {
    auto t = std::make_shared<Target>();
    t->name = "scrape";
    t->type = ProbeType::Http;
    t->url = std::string(https ? "https" : "http") + "://127.0.0.1:" + std::to_string(port_) + path;
    t->interval = 10s;
    t->timeout = 3s;
    t->headers = std::move(headers);
    if (https) t->tls = TlsOptions{"", (dir_ / "ca.crt").string(), false};
    return test::probe_once(client_io_, *client_, Endpoint{t, "", 0, t->url});
  }

  test::TestPki pki_;
  test::TempDir dir_{"server_web_test"};
  asio::io_context server_io_;
  std::unique_ptr<Server> server_;
  std::thread thread_;
  std::uint16_t port_ = 0;
  asio::io_context client_io_;
  std::shared_ptr<dns::Resolver> resolver_;
  std::unique_ptr<HttpProber> client_;
};

TEST_F(ServerWebConfigTest, TlsServesEveryPathAndRefusesPlainHttp) {
  WebConfig web;
  web.tls = tls();
  start(web);
  auto r = get("/metrics", true);
  EXPECT_EQ(r.outcome, Outcome::Ok) << r.message;
  EXPECT_TRUE(r.phase(Phase::Tls));
  EXPECT_EQ(get("/healthz", true).outcome, Outcome::Ok);
  auto plain = test::http_get("127.0.0.1", port_, "/metrics", 2s);
  EXPECT_EQ(plain.status, 0) << "a plain HTTP request gets no HTTP answer from a TLS port";
  EXPECT_EQ(get("/metrics", true).outcome, Outcome::Ok) << "and the server goes on serving";
}

TEST_F(ServerWebConfigTest, ARotatedCertificateIsServedToTheNextConnection) {
  WebConfig web;
  web.tls = tls();
  start(web);
  auto before = get("/metrics", true);
  ASSERT_EQ(before.outcome, Outcome::Ok) << before.message;
  install_certificate(pki_.issue({"127.0.0.1"}, -1h, 24h * 90));
  auto after = get("/metrics", true);
  ASSERT_EQ(after.outcome, Outcome::Ok) << after.message;
  ASSERT_TRUE(before.cert_not_after && after.cert_not_after);
  EXPECT_GT(*after.cert_not_after - *before.cert_not_after, 24h * 50);

  // A broken rotation keeps the last good certificate.
  test::write_file(dir_ / "tls.crt", "not a certificate");
  auto kept = get("/metrics", true);
  EXPECT_EQ(kept.outcome, Outcome::Ok) << kept.message;
  EXPECT_EQ(kept.cert_not_after, after.cert_not_after);
}

TEST_F(ServerWebConfigTest, BasicAuthGuardsMetricsButNotTheHealthChecks) {
  WebConfig web;
  web.tls = tls();
  web.basic_auth_users["prometheus"] = test::bcrypt_hash("scrape-me");
  start(web);
  auto anonymous = get("/metrics", true);
  EXPECT_EQ(anonymous.outcome, Outcome::BadStatus);
  EXPECT_EQ(anonymous.http_status, std::optional<int>(401));
  // base64("prometheus:scrape-me") and a wrong password.
  auto good = get("/metrics", true, {{"Authorization", "Basic cHJvbWV0aGV1czpzY3JhcGUtbWU="}});
  EXPECT_EQ(good.outcome, Outcome::Ok) << good.message;
  auto again = get("/metrics", true, {{"Authorization", "Basic cHJvbWV0aGV1czpzY3JhcGUtbWU="}});
  EXPECT_EQ(again.outcome, Outcome::Ok) << again.message;
  auto wrong = get("/metrics", true, {{"Authorization", "Basic cHJvbWV0aGV1czp3cm9uZw=="}});
  EXPECT_EQ(wrong.http_status, std::optional<int>(401));
  EXPECT_EQ(get("/healthz", true).outcome, Outcome::Ok);
  EXPECT_EQ(get("/readyz", true).outcome, Outcome::Ok);
}

TEST_F(ServerWebConfigTest, ABearerTokenWorksWithoutTls) {
  test::write_file(dir_ / "scrape-token", "tok-123\n");
  WebConfig web;
  web.bearer_token_file = (dir_ / "scrape-token").string();
  start(web);
  EXPECT_EQ(get("/metrics", false).http_status, std::optional<int>(401));
  EXPECT_EQ(get("/metrics", false, {{"Authorization", "Bearer tok-123"}}).outcome, Outcome::Ok);
  EXPECT_EQ(get("/metrics", false, {{"Authorization", "Bearer tok-12"}}).http_status,
            std::optional<int>(401));
  auto raw = test::http_get("127.0.0.1", port_, "/metrics");
  EXPECT_EQ(raw.status, 401);
  EXPECT_EQ(raw.headers["www-authenticate"], "Bearer realm=\"reachprobe\"");
}

TEST_F(ServerWebConfigTest, ACertificateThatDoesNotLoadStopsTheStart) {
  test::write_file(dir_ / "tls.crt", "not a certificate");
  WebConfig web;
  web.tls = tls();
  ServerOptions options;
  options.listen = "127.0.0.1:0";
  options.web = web;
  try {
    Server server(server_io_, options, Handlers{});
    ADD_FAILURE() << "the server started with a broken certificate";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find("cannot use cert_file " + (dir_ / "tls.crt").string()),
              std::string::npos)
        << e.what();
  }
}

}  // namespace
}  // namespace reachprobe::http
