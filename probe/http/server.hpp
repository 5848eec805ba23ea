#pragma once

#include <sys/stat.h>

#include <boost/asio/awaitable.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/thread_pool.hpp>
#include <chrono>
#include <cstdint>
#include <functional>
#include <list>
#include <memory>
#include <optional>
#include <string>

#include "probe/http/web_config.hpp"

namespace boost::asio::ssl {
class context;
}

namespace reachprobe::http {

class Authenticator;

struct ServerOptions {
  std::string listen = "0.0.0.0:9754";  // "IP:PORT", "[IPv6]:PORT"; port 0 picks one
  std::size_t max_connections = 64;
  std::size_t max_header_bytes = 8192;
  // A request must arrive whole within this, which also closes idle keep-alive
  // connections: a slowloris client holds a slot for at most this long.
  std::chrono::milliseconds read_timeout{10000};
  std::chrono::milliseconds write_timeout{10000};
  // TLS and who may read /metrics (`--web.config.file`); the default is neither.
  WebConfig web{};
};

// One scrape's exposition, handed out in pieces that the server writes as HTTP chunks as
// they come: with 10,000 endpoints the text is 25 MB, which a scrape should neither hold in
// memory at once nor make the scraper wait for before the first byte.
class MetricsStream {
 public:
  virtual ~MetricsStream() = default;
  // Appends until `out` holds at least `budget` bytes or all is written; false once all
  // is written. Runs on the server's worker thread, never on the event loop.
  virtual bool next(std::string& out, std::size_t budget) = 0;
};

// A stream of a text that is already whole.
std::unique_ptr<MetricsStream> metrics_text(std::string text);

struct Handlers {
  // Called on the event loop as a scrape starts (a snapshot, quick); the stream's pieces are
  // rendered on the server's worker thread, so probes never wait for a scrape.
  std::function<std::unique_ptr<MetricsStream>()> open_metrics;
  // Runs on the event loop.
  std::function<bool()> ready;
};

// The daemon's HTTP server (Boost.Beast): /metrics, /healthz, /readyz, and / on the
// daemon's one io_context. When every connection slot is taken, the connection that has
// waited longest without sending a complete request is shed, so idle or hostile clients
// cannot lock a real scraper out.
class Server {
 public:
  // Binds and listens; throws std::runtime_error("cannot listen on ADDR: reason"), or for a
  // certificate or key that OpenSSL refuses, std::runtime_error naming the file.
  Server(boost::asio::io_context& io, ServerOptions options, Handlers handlers);
  ~Server();
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  boost::asio::ip::tcp::endpoint local_endpoint() const;
  // Closes the listener and every connection; pending handlers end promptly.
  void stop();

  std::size_t connection_count() const { return connections_.size(); }

 private:
  struct Connection;
  struct Request;
  boost::asio::awaitable<void> accept_loop();
  boost::asio::awaitable<void> serve(std::shared_ptr<Connection> connection);
  template <typename Stream>
  boost::asio::awaitable<void> serve_requests(Stream& stream, Connection& connection);
  // The /metrics answer; false when the connection cannot carry another request.
  template <typename Stream>
  boost::asio::awaitable<bool> write_metrics(Stream& stream, Connection& connection,
                                             unsigned version, bool keep_alive, bool head_only);
  enum class Access { Allowed, Denied, Busy };
  // Whether a request with this Authorization header may read /metrics.
  boost::asio::awaitable<Access> authorize(std::string authorization);
  void make_room();
  // The TLS context for a new connection: rebuilt when the certificate or key file changed
  // (cert-manager rotates them in place), the previous one kept if the new files fail.
  std::shared_ptr<boost::asio::ssl::context> tls_context();

  boost::asio::io_context& io_;
  ServerOptions options_;
  Handlers handlers_;
  boost::asio::ip::tcp::acceptor acceptor_;
  boost::asio::thread_pool renderer_{1};
  // bcrypt verifications run here, not on the renderer: wrong passwords cannot delay scrapes.
  boost::asio::thread_pool verifier_{1};
  std::size_t pending_verifications_ = 0;
  std::unique_ptr<Authenticator> auth_;
  std::shared_ptr<boost::asio::ssl::context> tls_;
  struct FileStamp {
    ino_t inode = 0;
    timespec modified{};
    bool operator==(const FileStamp& o) const {
      return inode == o.inode && modified.tv_sec == o.modified.tv_sec &&
             modified.tv_nsec == o.modified.tv_nsec;
    }
  };
  FileStamp cert_stamp_, key_stamp_;
  std::list<std::shared_ptr<Connection>> connections_;
  bool stopped_ = false;
};

// "IP:PORT" / "[IPv6]:PORT" to an endpoint; throws std::invalid_argument.
boost::asio::ip::tcp::endpoint parse_listen_address(const std::string& text);

}  // namespace reachprobe::http
