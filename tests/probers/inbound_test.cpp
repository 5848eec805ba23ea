#include "probe/probers/inbound.hpp"

#include <gtest/gtest.h>
#include <unistd.h>

#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/write.hpp>
#include <filesystem>

#include "tests/support/apiserver_probe_test.hpp"
#include "tests/support/exposition.hpp"
#include "tests/support/fake_apiserver.hpp"
#include "tests/support/netns.hpp"
#include "tests/support/run_probe.hpp"
#include "tests/support/temp_dir.hpp"
#include "tests/support/test_pki.hpp"
#include "tests/support/web_server.hpp"

namespace reachprobe {
namespace {

namespace asio = boost::asio;
namespace fs = std::filesystem;
using asio::ip::tcp;
using namespace std::chrono_literals;
using test::FakeApiServer;
using test::FakeApiServerOptions;

bool has(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

// reachprobe on "the node" (this process's namespace) and a stand-in API server that dials
// back to it: on loopback here, from a control-plane namespace in the netns tests below.
class InboundTest : public test::ApiServerProbeTest {
 protected:
  InboundTest() : ApiServerProbeTest("inbound_test") {}
};

TEST_F(InboundTest, TheControlPlaneReachesTheListenerThroughThePodProxy) {
  FakeApiServer apiserver(apiserver_options());
  InboundProber prober(io_, resolver_, api(apiserver));
  const auto port = test::free_tcp_port();
  auto r = probe(prober, ProbeType::Inbound, "127.0.0.1", port);
  EXPECT_EQ(r.outcome, Outcome::Ok) << r.message;
  EXPECT_TRUE(has(r.message, "the control plane reached this node's port " + std::to_string(port)))
      << r.message;
  EXPECT_EQ(r.address, "127.0.0.1");
  EXPECT_TRUE(r.phase(Phase::Total));
  EXPECT_FALSE(r.phase(Phase::Connect)) << "the way to the API server is not the path probed";
  auto requests = apiserver.requests();
  ASSERT_EQ(requests.size(), 1u);
  EXPECT_TRUE(requests[0].starts_with("/api/v1/namespaces/monitoring/pods/reachprobe-x7k2p:" +
                                      std::to_string(port) + "/proxy/reachprobe/inbound/"))
      << requests[0];
  // A second probe reuses the listener and sends a new nonce.
  EXPECT_EQ(probe(prober, ProbeType::Inbound, "127.0.0.1", port).outcome, Outcome::Ok);
  requests = apiserver.requests();
  ASSERT_EQ(requests.size(), 2u);
  EXPECT_NE(requests[0], requests[1]);
}

TEST_F(InboundTest, AWrongTokenAndAMissingPermissionAreErrorsThatSayWhichRbac) {
  FakeApiServer apiserver(apiserver_options());
  auto wrong = api(apiserver);
  test::write_file(dir_ / "other-token", "someone-else");
  wrong.token_file = (dir_ / "other-token").string();
  InboundProber unauthorized(io_, resolver_, wrong);
  auto r = probe(unauthorized, ProbeType::Inbound, "127.0.0.1", test::free_tcp_port());
  EXPECT_EQ(r.outcome, Outcome::Error);
  EXPECT_TRUE(has(r.message, "refused the service-account token (401")) << r.message;

  auto options = apiserver_options();
  options.forbidden = true;
  FakeApiServer strict(options);
  InboundProber forbidden(io_, resolver_, api(strict));
  r = probe(forbidden, ProbeType::Inbound, "127.0.0.1", test::free_tcp_port());
  EXPECT_EQ(r.outcome, Outcome::Error);
  EXPECT_TRUE(has(r.message, "needs RBAC `get` on `pods/proxy` in namespace monitoring"))
      << r.message;
  KubeletProber kubelet(resolver_, api(strict));
  r = probe(kubelet, ProbeType::Kubelet, "127.0.0.1", 10250);
  EXPECT_TRUE(has(r.message, "needs RBAC `get` on `pods/log`")) << r.message;
}

TEST_F(InboundTest, AnUnknownPodIsAnErrorNamingTheSettings) {
  FakeApiServer apiserver(apiserver_options());
  auto settings = api(apiserver);
  settings.pod_name = "reachprobe-gone";
  InboundProber prober(io_, resolver_, settings);
  auto r = probe(prober, ProbeType::Inbound, "127.0.0.1", test::free_tcp_port());
  EXPECT_EQ(r.outcome, Outcome::Error);
  EXPECT_TRUE(has(r.message, "does not know pod monitoring/reachprobe-gone (404)")) << r.message;
}

TEST_F(InboundTest, APortHeldByAnAnsweringProcessProvesThePathOpen) {
  test::TestWebServer other;  // another HTTP server already holds the port
  FakeApiServer apiserver(apiserver_options());
  InboundProber prober(io_, resolver_, api(apiserver));
  auto r = probe(prober, ProbeType::Inbound, "127.0.0.1", other.port());
  EXPECT_EQ(r.outcome, Outcome::Ok) << r.message;
  EXPECT_TRUE(has(r.message, "held by another process, which answered HTTP 200")) << r.message;
  EXPECT_TRUE(has(r.message, "the path control plane -> node is open")) << r.message;
  ASSERT_EQ(other.requests().size(), 1u);
  EXPECT_TRUE(other.requests()[0].target.starts_with("/reachprobe/inbound/"));
}

// A hostNetwork webhook serves HTTPS on the port: the pod proxy speaks plain HTTP to it, and
// whatever the TLS server makes of that (a 400, an alert, a close) follows an accept.
TEST_F(InboundTest, APortHeldByATlsServerProvesThePathOpen) {
  test::TestWebServer webhook(pki_.issue({"127.0.0.1"}));
  FakeApiServer apiserver(apiserver_options());
  InboundProber prober(io_, resolver_, api(apiserver));
  auto r = probe(prober, ProbeType::Inbound, "127.0.0.1", webhook.port());
  EXPECT_EQ(r.outcome, Outcome::Ok) << r.message;
  EXPECT_TRUE(has(r.message, "held by another process, which ")) << r.message;
}

// What a process holding the port does with a connection it accepted.
enum class Holding { CloseAfterRequest, ResetAfterRequest, TlsAlert, OwnStatus };

// Accepts on `acceptor` (on the test's io_context) and treats every connection as `how`.
asio::awaitable<void> hold_port(tcp::acceptor& acceptor, Holding how) {
  for (;;) {
    boost::system::error_code ec;
    tcp::socket socket =
        co_await acceptor.async_accept(asio::redirect_error(asio::use_awaitable, ec));
    if (ec) co_return;
    std::string request;
    char chunk[1024];
    while (!ec && request.find("\r\n\r\n") == std::string::npos) {
      const auto n = co_await socket.async_read_some(asio::buffer(chunk),
                                                     asio::redirect_error(asio::use_awaitable, ec));
      request.append(chunk, n);
    }
    std::string reply;
    switch (how) {
      case Holding::CloseAfterRequest:
        break;
      case Holding::ResetAfterRequest:
        socket.set_option(asio::socket_base::linger(true, 0), ec);
        break;
      case Holding::TlsAlert:  // a TLS record: alert, fatal, protocol_version
        reply = std::string("\x15\x03\x01\x00\x02\x02\x46", 7);
        break;
      case Holding::OwnStatus: {
        const std::string body =
            R"({"kind":"Status","apiVersion":"v1","status":"Failure","message":"forbidden: User \"system:anonymous\" cannot get path \"/reachprobe\"","reason":"Forbidden","code":403})";
        reply = "HTTP/1.1 403 Forbidden\r\nContent-Type: application/json\r\nContent-Length: " +
                std::to_string(body.size()) + "\r\nConnection: close\r\n\r\n" + body;
        break;
      }
    }
    if (!reply.empty()) {
      co_await asio::async_write(socket, asio::buffer(reply),
                                 asio::redirect_error(asio::use_awaitable, ec));
    }
    if (how != Holding::ResetAfterRequest) socket.shutdown(tcp::socket::shutdown_send, ec);
    socket.close(ec);
  }
}

TEST_F(InboundTest, AnyAcceptByTheHolderProvesThePathOpen) {
  FakeApiServer apiserver(apiserver_options());
  InboundProber prober(io_, resolver_, api(apiserver));
  const std::vector<std::pair<Holding, std::string>> cases = {
      {Holding::CloseAfterRequest,
       "which accepted the connection and closed it without an HTTP "
       "answer"},
      {Holding::ResetAfterRequest, "which accepted the connection and reset it"},
      {Holding::TlsAlert, "which accepted the connection and answered something that is not HTTP"},
      {Holding::OwnStatus, "which answered HTTP 403"},
  };
  for (const auto& [how, said] : cases) {
    tcp::acceptor holder(io_, tcp::endpoint(asio::ip::make_address("0.0.0.0"), 0));
    asio::co_spawn(io_, hold_port(holder, how), asio::detached);
    auto r = probe(prober, ProbeType::Inbound, "127.0.0.1", holder.local_endpoint().port());
    EXPECT_EQ(r.outcome, Outcome::Ok) << r.message;
    EXPECT_TRUE(has(r.message, said)) << r.message;
    holder.close();
    io_.poll();  // the holder's coroutine ends; the context then has no work and stops
    io_.restart();
  }
}

TEST_F(InboundTest, TheListenerIsHeldOnlyWhileAProbeRuns) {
  FakeApiServer apiserver(apiserver_options());
  InboundProber prober(io_, resolver_, api(apiserver));
  const auto port = test::free_tcp_port();
  const tcp::endpoint any(asio::ip::make_address("0.0.0.0"), port);
  for (int round = 0; round < 2; ++round) {
    auto r = probe(prober, ProbeType::Inbound, "127.0.0.1", port);
    EXPECT_EQ(r.outcome, Outcome::Ok) << r.message;
    EXPECT_TRUE(has(r.message, "the control plane reached")) << r.message;
    // Between probes another socket binds the port: no SO_REUSEADDR, so not even a
    // TIME_WAIT leftover of the probe's connection may be there.
    tcp::acceptor other(io_);
    boost::system::error_code ec;
    other.open(any.protocol(), ec);
    other.bind(any, ec);
    ASSERT_FALSE(ec) << "round " << round << ": the port is still bound: " << ec.message();
    other.listen(asio::socket_base::max_listen_connections, ec);
    ASSERT_FALSE(ec) << ec.message();
  }
}

TEST_F(InboundTest, ConcurrentProbesOfOnePortShareTheListenerAndLeaveThePortFree) {
  FakeApiServer apiserver(apiserver_options());
  InboundProber prober(io_, resolver_, api(apiserver));
  const auto port = test::free_tcp_port();
  auto t = std::make_shared<Target>();
  t->name = "webhook-inbound";
  t->type = ProbeType::Inbound;
  t->hosts = {"127.0.0.1"};
  t->ports = {port};
  t->interval = 10s;
  t->timeout = 3s;
  const auto endpoint = expand_endpoints({t}).front();
  std::vector<ProbeResult> results;
  for (int i = 0; i < 3; ++i) {
    asio::co_spawn(io_, prober.probe(endpoint, Deadline::after(3s)),
                   [&](std::exception_ptr e, ProbeResult r) {
                     if (e) std::rethrow_exception(e);
                     results.push_back(std::move(r));
                   });
  }
  const auto limit = Clock::now() + 5s;
  while (results.size() < 3 && Clock::now() < limit) io_.run_one_for(50ms);
  ASSERT_EQ(results.size(), 3u);
  for (const auto& r : results) {
    EXPECT_EQ(r.outcome, Outcome::Ok) << r.message;
    EXPECT_TRUE(has(r.message, "the control plane reached")) << r.message;
  }
  tcp::acceptor other(io_);
  boost::system::error_code ec;
  other.open(tcp::v4(), ec);
  other.bind(tcp::endpoint(tcp::v4(), port), ec);
  EXPECT_FALSE(ec) << "the port is still bound: " << ec.message();
}

TEST(InboundListeners, NeverListensOnTheKubeletPort) {
  asio::io_context io;
  InboundListeners listeners(io);
  auto hold = listeners.hold(10250, false);
  EXPECT_EQ(hold.state(), InboundListeners::State::Kubelet);
  EXPECT_FALSE(listeners.listening(10250, false));
  auto hold6 = listeners.hold(10250, true);
  EXPECT_EQ(hold6.state(), InboundListeners::State::Kubelet);
  EXPECT_FALSE(listeners.listening(10250, true));
}

TEST(InboundListeners, AHoldListensUntilTheLastHoldGoes) {
  asio::io_context io;
  InboundListeners listeners(io);
  const auto port = test::free_tcp_port();
  auto first = listeners.hold(port, false);
  ASSERT_EQ(first.state(), InboundListeners::State::Listening) << first.problem();
  {
    auto second = listeners.hold(port, false);
    EXPECT_EQ(second.state(), InboundListeners::State::Listening) << second.problem();
  }
  EXPECT_TRUE(listeners.listening(port, false)) << "the first hold still runs";
  first.release();
  EXPECT_FALSE(listeners.listening(port, false));
  // Another socket listening on it: reachprobe does not take it over.
  tcp::acceptor other(io, tcp::endpoint(tcp::v4(), port), /*reuse_addr=*/false);
  auto held = listeners.hold(port, false);
  EXPECT_EQ(held.state(), InboundListeners::State::HeldByAnother);
  EXPECT_FALSE(listeners.listening(port, false));
}

TEST(HeldPortAnswer, AnyAcceptIsThePathOpenAndTheApiServersOwnAnswersAreNot) {
  auto answer = [](int status, std::string body) {
    HttpResponseSummary r;
    r.status = status;
    r.body = std::move(body);
    return judge_held_port_answer(r, "reachprobe-x7k2p");
  };
  auto status = [](int code, const std::string& reason, const std::string& message) {
    return R"({"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","message":")" +
           message + R"(","reason":")" + reason + R"(","code":)" + std::to_string(code) + "}";
  };
  // Go's HTTPS server to a plain-HTTP request.
  EXPECT_EQ(answer(400, "Client sent an HTTP request to an HTTPS server.\n"), "answered HTTP 400");
  EXPECT_EQ(answer(404, "404 page not found\n"), "answered HTTP 404");
  EXPECT_EQ(answer(503, status(503, "ServiceUnavailable", "error trying to reach service: EOF")),
            "accepted the connection and closed it without an HTTP answer");
  EXPECT_EQ(answer(503, status(503, "ServiceUnavailable",
                               "error trying to reach service: read tcp "
                               "10.0.0.9:41234->10.0.1.5:9443: read: connection reset by peer")),
            "accepted the connection and reset it");
  auto tls = answer(503, status(503, "ServiceUnavailable",
                                "error trying to reach service: net/http: HTTP/1.x transport "
                                "connection broken: malformed HTTP response "
                                "\\\"\\\\x15\\\\x03\\\\x01\\\""));
  ASSERT_TRUE(tls);
  EXPECT_TRUE(has(*tls, "not HTTP")) << *tls;
  // Accepted and silent: explain_api_failure's proof (a timeout whose finding says the path
  // is open), not an ok: a hung holder is a failure of the webhook, if not of the path.
  EXPECT_EQ(answer(503, status(503, "ServiceUnavailable",
                               "error trying to reach service: net/http: request canceled "
                               "(Client.Timeout exceeded while awaiting headers)")),
            std::nullopt);
  // A dial error is no accept: explain_api_failure classifies it.
  EXPECT_EQ(answer(503, status(503, "ServiceUnavailable",
                               "error trying to reach service: dial tcp 10.0.1.5:9443: i/o "
                               "timeout")),
            std::nullopt);
  EXPECT_EQ(answer(503, status(503, "ServiceUnavailable",
                               "error trying to reach service: net/http: request canceled while "
                               "waiting for connection")),
            std::nullopt);
  // The API server about this pod, the token, its throttling.
  EXPECT_EQ(answer(403, status(403, "Forbidden",
                               "pods \\\"reachprobe-x7k2p\\\" is forbidden: User "
                               "\\\"system:serviceaccount:monitoring:reachprobe\\\" cannot "
                               "get resource \\\"pods/proxy\\\"")),
            std::nullopt);
  EXPECT_EQ(answer(404, status(404, "NotFound", "pods \\\"reachprobe-x7k2p\\\" not found")),
            std::nullopt);
  EXPECT_EQ(answer(401, status(401, "Unauthorized", "Unauthorized")), std::nullopt);
  EXPECT_EQ(answer(429, status(429, "TooManyRequests", "Too many requests")), std::nullopt);
  // A Status the holder wrote itself (a Kubernetes-style server on the port).
  EXPECT_EQ(answer(403, status(403, "Forbidden", "forbidden: User system:anonymous")),
            "answered HTTP 403");
}

TEST_F(InboundTest, APortHeldByASilentProcessIsNeverOk) {
  // Listens and never accepts: the connection gets through but nothing answers.
  tcp::acceptor silent(io_, tcp::endpoint(asio::ip::make_address("0.0.0.0"), 0));
  FakeApiServer apiserver(apiserver_options());
  InboundProber prober(io_, resolver_, api(apiserver));
  auto r = probe(prober, ProbeType::Inbound, "127.0.0.1", silent.local_endpoint().port(), 1s);
  EXPECT_NE(r.outcome, Outcome::Ok) << r.message;
  EXPECT_EQ(r.outcome, Outcome::Timeout) << r.message;
}

TEST_F(InboundTest, TheKubeletPathIsTheApiServersLogRequest) {
  auto options = apiserver_options();
  asio::io_context io;
  tcp::acceptor kubelet_listener(io, tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0));
  options.kubelet_port = kubelet_listener.local_endpoint().port();
  {
    FakeApiServer apiserver(options);
    KubeletProber prober(resolver_, api(apiserver));
    auto r = probe(prober, ProbeType::Kubelet, "127.0.0.1", 10250);
    EXPECT_EQ(r.outcome, Outcome::Ok) << r.message;
    EXPECT_EQ(apiserver.requests().at(0),
              "/api/v1/namespaces/monitoring/pods/reachprobe-x7k2p/log?tailLines=1");
  }
  test::ClosedTcpPort closed_kubelet;
  options.kubelet_port = closed_kubelet.port();
  FakeApiServer apiserver(options);
  KubeletProber prober(resolver_, api(apiserver));
  auto r = probe(prober, ProbeType::Kubelet, "127.0.0.1", 10250);
  EXPECT_EQ(r.outcome, Outcome::Refused) << r.message;
  EXPECT_TRUE(has(r.message, "could not connect to this node's kubelet")) << r.message;
}

TEST_F(InboundTest, AnUnreachableApiServerIsSaidToBeTheApiServer) {
  test::ClosedTcpPort apiserver_port;
  auto settings = KubernetesApi{"https://127.0.0.1:" + std::to_string(apiserver_port.port()),
                                (dir_ / "token").string(), (dir_ / "ca.crt").string(), "monitoring",
                                "reachprobe-x7k2p"};
  InboundProber prober(io_, resolver_, settings);
  auto r = probe(prober, ProbeType::Inbound, "127.0.0.1", test::free_tcp_port());
  EXPECT_EQ(r.outcome, Outcome::Refused);
  EXPECT_TRUE(has(r.message, "cannot ask the API server: ")) << r.message;
}

TEST(DialErrors, GoErrorTextsMapToResults) {
  EXPECT_EQ(
      classify_dial_error("error trying to reach service: dial tcp 10.0.1.5:9443: i/o timeout"),
      Outcome::Timeout);
  EXPECT_EQ(classify_dial_error("dial tcp 10.0.1.5:9443: connect: connection refused"),
            Outcome::Refused);
  EXPECT_EQ(classify_dial_error("dial tcp 10.0.1.5:10250: connect: no route to host"),
            Outcome::Unreachable);
  EXPECT_EQ(classify_dial_error("dial tcp 10.0.1.5:10250: connect: network is unreachable"),
            Outcome::Unreachable);
  EXPECT_EQ(classify_dial_error("dial tcp: lookup x: no such host"), Outcome::Error);
  EXPECT_EQ(classify_dial_error("pods \"x\" not found"), std::nullopt);
}

TEST(ApiStatus, ParsesAStatusAndNothingElse) {
  auto s = parse_api_status(
      R"({"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","message":"error trying to reach service: dial tcp 10.0.1.5:9443: i/o timeout","reason":"ServiceUnavailable","code":503})");
  ASSERT_TRUE(s);
  EXPECT_EQ(s->code, 503);
  EXPECT_EQ(s->reason, "ServiceUnavailable");
  EXPECT_EQ(s->message, "error trying to reach service: dial tcp 10.0.1.5:9443: i/o timeout");
  EXPECT_FALSE(parse_api_status(R"({"kind":"Pod"})"));
  EXPECT_FALSE(parse_api_status("reachprobe inbound abc"));
  EXPECT_FALSE(parse_api_status("{\"kind\":"));
  EXPECT_FALSE(parse_api_status(""));
}

// The outage's case: the node's security group drops the control plane's connections to
// 9443. The stand-in API server lives in a namespace of its own and dials the node across
// a veth; nftables in its namespace drops the SYNs, as the security group did.
TEST_F(InboundTest, ADroppedWebhookPortIsATimeoutAndRecoversWhenTheRuleGoes) {
  if (auto why = test::netns_unavailable_reason(); !why.empty()) GTEST_SKIP() << why;
  test::TestHost control_plane;
  auto options = apiserver_options(control_plane.address());
  options.netns = control_plane.name();
  options.pod_ip = control_plane.gateway_address();
  options.dial_timeout = 500ms;
  FakeApiServer apiserver(options);
  InboundProber prober(io_, resolver_, api(apiserver));
  const auto port = test::free_tcp_port();
  control_plane.nft(
      "table inet sg {\n chain output { type filter hook output priority 0; "
      "tcp dport " +
      std::to_string(port) + " drop; }\n}\n");
  auto r = probe(prober, ProbeType::Inbound, control_plane.gateway_address(), port);
  EXPECT_EQ(r.outcome, Outcome::Timeout) << r.message;
  EXPECT_TRUE(has(r.message, "dial tcp " + control_plane.gateway_address() + ":" +
                                 std::to_string(port) + ": i/o timeout"))
      << r.message;
  control_plane.flush_firewall();
  r = probe(prober, ProbeType::Inbound, control_plane.gateway_address(), port);
  EXPECT_EQ(r.outcome, Outcome::Ok) << r.message;
}

}  // namespace
}  // namespace reachprobe
