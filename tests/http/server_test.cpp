#include "probe/http/server.hpp"

#include <gtest/gtest.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <boost/asio/steady_timer.hpp>
#include <future>
#include <limits>
#include <thread>

#include "tests/support/http_get.hpp"
#include "tests/support/wait.hpp"

namespace reachprobe::http {
namespace {

namespace asio = boost::asio;
using asio::ip::tcp;
using namespace std::chrono_literals;

// An exposition whose rendering takes a while, as 10,000 endpoints do.
class SlowText final : public MetricsStream {
 public:
  explicit SlowText(std::chrono::milliseconds delay) : delay_(delay) {}
  bool next(std::string& out, std::size_t) override {
    std::this_thread::sleep_for(delay_);
    out += "# TYPE up gauge\nup 1\n";
    return false;
  }

 private:
  std::chrono::milliseconds delay_;
};

// `count` lines of a few dozen bytes, in pieces of at least `budget`: megabytes of them
// cross many HTTP chunks.
class ManyLines final : public MetricsStream {
 public:
  explicit ManyLines(int count) : count_(count) {}
  bool next(std::string& out, std::size_t budget) override {
    while (written_ < count_ && out.size() < budget) {
      out += "line_" + std::to_string(written_++) + "{endpoint=\"10.0.0.1:443\"} 1\n";
    }
    return written_ < count_;
  }
  static std::string whole(int count) {
    std::string out;
    ManyLines(count).next(out, std::numeric_limits<std::size_t>::max());
    return out;
  }

 private:
  int count_;
  int written_ = 0;
};

// A server on an io_context that runs on its own thread, as in the daemon.
class ServerTest : public ::testing::Test {
 protected:
  void start(ServerOptions options = {}) {
    options.listen = "127.0.0.1:0";
    Handlers h;
    h.open_metrics = [this]() -> std::unique_ptr<MetricsStream> {
      ++renders_;
      if (many_lines_ > 0) return std::make_unique<ManyLines>(many_lines_);
      if (render_delay_ > 0ms) return std::make_unique<SlowText>(render_delay_);
      return metrics_text("# TYPE up gauge\nup 1\n");
    };
    h.ready = [this] { return ready_.load(); };
    server_ = std::make_unique<Server>(io_, options, std::move(h));
    port_ = server_->local_endpoint().port();
    thread_ = std::thread([this] { io_.run(); });
  }
  void TearDown() override {
    if (server_) asio::post(io_, [this] { server_->stop(); });
    if (thread_.joinable()) {
      // stop() ends every connection, so run() returns on its own: no io_.stop() needed.
      auto done = std::async(std::launch::async, [this] { thread_.join(); });
      if (done.wait_for(5s) != std::future_status::ready) {
        ADD_FAILURE() << "io_context.run() did not return after stop()";
        io_.stop();
      }
    }
    server_.reset();
  }

  test::HttpResponse get(const std::string& target) {
    return test::http_get("127.0.0.1", port_, target);
  }

  // A raw client socket, for clients that do not behave.
  int raw_connect() {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in sa{};
    sa.sin_family = AF_INET;
    sa.sin_port = htons(port_);
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    EXPECT_EQ(connect(fd, reinterpret_cast<sockaddr*>(&sa), sizeof sa), 0);
    timeval tv{5, 0};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    return fd;
  }
  // Reads until EOF (or the 5 s receive timeout); returns what came.
  static std::string read_all(int fd) {
    std::string out;
    char buf[4096];
    for (;;) {
      auto n = read(fd, buf, sizeof buf);
      if (n <= 0) break;
      out.append(buf, static_cast<std::size_t>(n));
    }
    return out;
  }

  asio::io_context io_;
  std::unique_ptr<Server> server_;
  std::thread thread_;
  std::uint16_t port_ = 0;
  std::atomic<bool> ready_{false};
  std::atomic<int> renders_{0};
  std::chrono::milliseconds render_delay_{0};
  int many_lines_ = 0;
};

TEST_F(ServerTest, MetricsHealthzReadyz) {
  start();
  auto m = get("/metrics");
  EXPECT_EQ(m.status, 200);
  EXPECT_EQ(m.body, "# TYPE up gauge\nup 1\n");
  EXPECT_EQ(m.headers["content-type"], "text/plain; version=0.0.4; charset=utf-8");
  EXPECT_EQ(get("/metrics?debug=1").status, 200) << "query strings do not change the route";
  EXPECT_EQ(get("/healthz").status, 200);
  EXPECT_EQ(get("/readyz").status, 503);
  ready_ = true;
  EXPECT_EQ(get("/readyz").status, 200);
  EXPECT_EQ(get("/").status, 200);
}

TEST_F(ServerTest, UnknownPathIs404AndOtherMethods405) {
  start();
  EXPECT_EQ(get("/metricz").status, 404);
  auto r = test::http_request("127.0.0.1", port_, "DELETE", "/metrics");
  EXPECT_EQ(r.status, 405);
  EXPECT_EQ(r.headers["allow"], "GET, HEAD");
}

TEST_F(ServerTest, HeadHasTheHeadersOfGetAndNoBody) {
  start();
  auto r = test::http_request("127.0.0.1", port_, "HEAD", "/metrics");
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.body, "");
  EXPECT_EQ(r.headers["transfer-encoding"], "chunked");
  EXPECT_EQ(r.headers["content-type"], "text/plain; version=0.0.4; charset=utf-8");
  EXPECT_EQ(renders_.load(), 0) << "HEAD renders nothing";
}

// 3.6 MB: over a dozen pieces, each its own HTTP chunk, arrive whole and in order.
TEST_F(ServerTest, ALargeExpositionArrivesWholeInChunks) {
  many_lines_ = 100000;
  start();
  auto r = test::http_get("127.0.0.1", port_, "/metrics", 10s);
  EXPECT_EQ(r.status, 200) << r.error;
  EXPECT_EQ(r.headers["transfer-encoding"], "chunked");
  EXPECT_EQ(r.body.size(), ManyLines::whole(many_lines_).size());
  EXPECT_TRUE(r.body == ManyLines::whole(many_lines_));
}

// An HTTP/1.0 client knows no chunks: it gets the body up to the end of the connection.
TEST_F(ServerTest, Http10GetsTheExpositionUntilTheConnectionCloses) {
  many_lines_ = 20000;
  start();
  const int fd = raw_connect();
  const std::string req = "GET /metrics HTTP/1.0\r\n\r\n";
  ASSERT_EQ(write(fd, req.data(), req.size()), static_cast<ssize_t>(req.size()));
  auto reply = read_all(fd);
  close(fd);
  const auto body_at = reply.find("\r\n\r\n");
  ASSERT_NE(body_at, std::string::npos) << reply.substr(0, 200);
  const auto head = reply.substr(0, body_at);
  EXPECT_EQ(head.rfind("HTTP/1.0 200", 0), 0u) << head;
  EXPECT_EQ(head.find("chunked"), std::string::npos) << head;
  EXPECT_TRUE(reply.substr(body_at + 4) == ManyLines::whole(many_lines_));
}

// After a chunked exposition the connection serves the next request: Prometheus keeps it.
TEST_F(ServerTest, KeepAliveContinuesAfterAChunkedExposition) {
  many_lines_ = 20000;
  start();
  const int fd = raw_connect();
  const std::string two =
      "GET /metrics HTTP/1.1\r\nHost: x\r\n\r\nGET /healthz HTTP/1.1\r\nHost: x\r\nConnection: "
      "close\r\n\r\n";
  ASSERT_EQ(write(fd, two.data(), two.size()), static_cast<ssize_t>(two.size()));
  auto reply = read_all(fd);
  close(fd);
  const auto last = "line_" + std::to_string(many_lines_ - 1) + "{";
  const auto end_of_metrics = reply.find("\r\n0\r\n\r\n");
  ASSERT_NE(end_of_metrics, std::string::npos) << "no last chunk";
  EXPECT_NE(reply.find(last), std::string::npos);
  EXPECT_EQ(reply.find("HTTP/1.1 200", end_of_metrics), end_of_metrics + 7) << "then /healthz";
  EXPECT_EQ(reply.substr(reply.size() - 3), "ok\n");
}

TEST_F(ServerTest, ASlowRenderDoesNotStopTheEventLoop) {
  render_delay_ = 300ms;
  start();
  auto scrape = std::async(std::launch::async, [this] { return get("/metrics"); });
  ASSERT_TRUE(test::wait_until([&] { return renders_.load() == 1; }, 2s));
  // While the worker renders, a timer on the server's io_context fires on time: probes,
  // which run on that io_context, are not held up by a scrape.
  std::promise<std::chrono::steady_clock::duration> late;
  asio::steady_timer timer(io_);
  const auto due = std::chrono::steady_clock::now() + 50ms;
  asio::post(io_, [&] {
    timer.expires_at(due);
    timer.async_wait([&](auto) { late.set_value(std::chrono::steady_clock::now() - due); });
  });
  auto lateness = late.get_future();
  ASSERT_EQ(lateness.wait_for(2s), std::future_status::ready);
  EXPECT_LT(lateness.get(), 30ms);
  EXPECT_EQ(get("/healthz").status, 200) << "answered while rendering";
  EXPECT_EQ(scrape.get().status, 200);
}

TEST_F(ServerTest, SlowlorisIsClosedAtTheReadTimeout) {
  ServerOptions o;
  o.read_timeout = 300ms;
  start(o);
  const int fd = raw_connect();
  const auto start_time = std::chrono::steady_clock::now();
  // Half a request line, then nothing more: the server must not wait forever.
  ASSERT_EQ(write(fd, "GET /met", 8), 8);
  read_all(fd);
  const auto held = std::chrono::steady_clock::now() - start_time;
  close(fd);
  EXPECT_GE(held, 250ms);
  EXPECT_LT(held, 2s);
}

TEST_F(ServerTest, GarbageIs400) {
  start();
  const int fd = raw_connect();
  const std::string garbage = "\x16\x03\x01\x02\x00 not http at all\r\n\r\n";
  ASSERT_EQ(write(fd, garbage.data(), garbage.size()), static_cast<ssize_t>(garbage.size()));
  auto reply = read_all(fd);
  close(fd);
  EXPECT_EQ(reply.rfind("HTTP/1.1 400", 0), 0u) << reply;
  EXPECT_EQ(get("/metrics").status, 200);
}

TEST_F(ServerTest, OversizedHeaderIs431) {
  start();
  const int fd = raw_connect();
  std::string req =
      "GET /metrics HTTP/1.1\r\nHost: x\r\nX-Big: " + std::string(16384, 'a') + "\r\n\r\n";
  (void)!write(fd, req.data(), req.size());
  auto reply = read_all(fd);
  close(fd);
  EXPECT_EQ(reply.rfind("HTTP/1.1 431", 0), 0u) << reply.substr(0, 100);
}

TEST_F(ServerTest, AFloodOfIdleConnectionsDoesNotLockOutAScraper) {
  ServerOptions o;
  o.max_connections = 8;
  start(o);
  std::vector<int> idle;
  for (int i = 0; i < 18; ++i) idle.push_back(raw_connect());
  // Every slot is held by a client that sends nothing; the oldest are shed for new ones.
  auto r = get("/metrics");
  EXPECT_EQ(r.status, 200) << r.error;
  std::promise<std::size_t> count;
  asio::post(io_, [&] { count.set_value(server_->connection_count()); });
  EXPECT_LE(count.get_future().get(), 8u);
  for (int fd : idle) close(fd);
}

TEST_F(ServerTest, KeepAliveServesSeveralRequestsOnOneConnection) {
  start();
  const int fd = raw_connect();
  const std::string two =
      "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\nGET /healthz HTTP/1.1\r\nHost: x\r\nConnection: "
      "close\r\n\r\n";
  ASSERT_EQ(write(fd, two.data(), two.size()), static_cast<ssize_t>(two.size()));
  auto reply = read_all(fd);
  close(fd);
  std::size_t n = 0;
  for (auto p = reply.find("HTTP/1.1 200"); p != std::string::npos;
       p = reply.find("HTTP/1.1 200", p + 1))
    ++n;
  EXPECT_EQ(n, 2u) << reply;
}

TEST(ServerListen, BadAddressesAreClearErrors) {
  asio::io_context io;
  EXPECT_THROW(Server(io, ServerOptions{"localhost:9754"}, {}), std::runtime_error);
  try {
    Server s(io, ServerOptions{"127.0.0.1:99999"}, {});
    FAIL();
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find("cannot listen on 127.0.0.1:99999"), std::string::npos);
  }
  EXPECT_EQ(parse_listen_address("[::1]:80").port(), 80);
  EXPECT_TRUE(parse_listen_address("[::1]:80").address().is_v6());
  EXPECT_EQ(parse_listen_address(":9754").address().to_string(), "0.0.0.0");
}

}  // namespace
}  // namespace reachprobe::http
