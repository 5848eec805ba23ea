#include "tests/support/fake_apiserver.hpp"

#include <fcntl.h>
#include <sched.h>
#include <unistd.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl/ssl_stream.hpp>
#include <cstring>
#include <future>
#include <map>
#include <optional>
#include <stdexcept>

#include "probe/core/deadline.hpp"

namespace reachprobe::test {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using asio::ip::tcp;

namespace {

std::string json_escaped(const std::string& text) {
  std::string out;
  for (char c : text) {
    if (c == '"' || c == '\\') out += '\\';
    out += c;
  }
  return out;
}

std::string status_json(int code, const std::string& reason, const std::string& message) {
  return "{\"kind\":\"Status\",\"apiVersion\":\"v1\",\"metadata\":{},\"status\":\"Failure\","
         "\"message\":\"" +
         json_escaped(message) + "\",\"reason\":\"" + reason +
         "\",\"code\":" + std::to_string(code) + "}\n";
}

// Go's net error text for a failed connect.
std::string go_dial_error(const boost::system::error_code& ec, bool timed_out) {
  if (timed_out) return "i/o timeout";
  if (ec == asio::error::connection_refused) return "connect: connection refused";
  if (ec == asio::error::host_unreachable) return "connect: no route to host";
  if (ec == asio::error::network_unreachable) return "connect: network is unreachable";
  return "connect: " + ec.message();
}

// Go's net/http transport error text for a connection that was set up and then gave no
// HTTP answer (what the pod proxy puts after "error trying to reach service: ").
std::string go_read_error(const boost::system::error_code& ec, const tcp::socket& socket,
                          const beast::flat_buffer& received) {
  const std::string bytes(static_cast<const char*>(received.data().data()), received.data().size());
  const bool not_http = !bytes.empty() && !std::string_view("HTTP/").starts_with(bytes.substr(
                                              0, std::min<std::size_t>(5, bytes.size())));
  if (!not_http && (ec == http::error::end_of_stream || ec == asio::error::eof ||
                    ec == http::error::partial_message)) {
    return bytes.empty() ? "EOF" : "unexpected EOF";
  }
  if (ec == asio::error::connection_reset) {
    boost::system::error_code ignored;
    const auto local = socket.local_endpoint(ignored);
    const auto remote = socket.remote_endpoint(ignored);
    return "read tcp " + local.address().to_string() + ":" + std::to_string(local.port()) + "->" +
           remote.address().to_string() + ":" + std::to_string(remote.port()) +
           ": read: connection reset by peer";
  }
  if (not_http || ec.category() == boost::system::error_code(http::error::bad_version).category()) {
    // Go quotes the first line it could not read as a status line (%q).
    std::string quoted = "\"";
    for (unsigned char c : bytes.substr(0, bytes.find('\n'))) {
      if (c == '"' || c == '\\') {
        quoted += '\\';
        quoted += static_cast<char>(c);
      } else if (c >= 0x20 && c < 0x7f) {
        quoted += static_cast<char>(c);
      } else {
        static constexpr char kHex[] = "0123456789abcdef";
        quoted += "\\x";
        quoted += kHex[c >> 4];
        quoted += kHex[c & 15];
      }
    }
    return "net/http: HTTP/1.x transport connection broken: malformed HTTP response " + quoted +
           "\"";
  }
  return ec.message();
}

// /api/v1/namespaces/NS/pods/POD:PORT/proxy/PATH or /api/v1/namespaces/NS/pods/POD/log[?..].
// Parsed by hand: std::regex on two threads trips a known benign race in libstdc++'s
// ctype cache that ThreadSanitizer reports.
struct Route {
  std::string namespace_name;
  std::string pod;
  std::uint16_t proxy_port = 0;  // 0: the log subresource
  std::string proxy_path;
};

std::optional<Route> parse_route(std::string_view target) {
  constexpr std::string_view kPrefix = "/api/v1/namespaces/";
  if (!target.starts_with(kPrefix)) return std::nullopt;
  target.remove_prefix(kPrefix.size());
  const auto slash = target.find('/');
  if (slash == std::string_view::npos || slash == 0) return std::nullopt;
  Route route;
  route.namespace_name = std::string(target.substr(0, slash));
  target.remove_prefix(slash);
  if (!target.starts_with("/pods/")) return std::nullopt;
  target.remove_prefix(6);
  const auto end = target.find('/');
  if (end == std::string_view::npos || end == 0) return std::nullopt;
  const std::string_view name = target.substr(0, end);
  const std::string_view rest = target.substr(end);
  if (rest == "/log" || rest.starts_with("/log?")) {
    route.pod = std::string(name);
    return route;
  }
  const auto colon = name.find(':');
  if (colon == std::string_view::npos || !rest.starts_with("/proxy/")) return std::nullopt;
  route.pod = std::string(name.substr(0, colon));
  const std::string port(name.substr(colon + 1));
  if (port.empty() || port.size() > 5 ||
      port.find_first_not_of("0123456789") != std::string::npos || std::stoi(port) == 0 ||
      std::stoi(port) > 65535) {
    return std::nullopt;
  }
  route.proxy_port = static_cast<std::uint16_t>(std::stoi(port));
  route.proxy_path = std::string(rest.substr(6));
  return route;
}

// /apis/discovery.k8s.io/v1/namespaces/NS/endpointslices?... or /api/v1/namespaces/NS/services?...
struct Collection {
  std::string resource;  // "endpointslices" or "services"
  std::string namespace_name;
  std::map<std::string, std::string> query;  // percent-decoded
};

std::string percent_decoded(std::string_view text) {
  std::string out;
  for (std::size_t i = 0; i < text.size(); ++i) {
    if (text[i] == '%' && i + 2 < text.size()) {
      out += static_cast<char>(std::stoi(std::string(text.substr(i + 1, 2)), nullptr, 16));
      i += 2;
    } else {
      out += text[i];
    }
  }
  return out;
}

std::optional<Collection> parse_collection(std::string_view target) {
  const auto question = target.find('?');
  std::string_view path = target.substr(0, question);
  Collection c;
  constexpr std::string_view kSlices = "/apis/discovery.k8s.io/v1/namespaces/";
  constexpr std::string_view kCore = "/api/v1/namespaces/";
  std::string_view suffix;
  if (path.starts_with(kSlices)) {
    path.remove_prefix(kSlices.size());
    c.resource = "endpointslices";
    suffix = "/endpointslices";
  } else if (path.starts_with(kCore)) {
    path.remove_prefix(kCore.size());
    c.resource = "services";
    suffix = "/services";
  } else {
    return std::nullopt;
  }
  if (!path.ends_with(suffix)) return std::nullopt;
  path.remove_suffix(suffix.size());
  if (path.empty() || path.find('/') != std::string_view::npos) return std::nullopt;
  c.namespace_name = std::string(path);
  if (question != std::string_view::npos) {
    std::string_view query = target.substr(question + 1);
    while (!query.empty()) {
      const auto amp = query.find('&');
      const auto pair = query.substr(0, amp);
      const auto eq = pair.find('=');
      c.query[std::string(pair.substr(0, eq))] =
          eq == std::string_view::npos ? "" : percent_decoded(pair.substr(eq + 1));
      if (amp == std::string_view::npos) break;
      query.remove_prefix(amp + 1);
    }
  }
  return c;
}

struct StoredObject {
  std::string resource;
  std::string namespace_name;
  std::string name;
  std::string service;  // the kubernetes.io/service-name label of a slice
  std::string members;  // the JSON members after metadata, each with a leading comma
  std::uint64_t resource_version = 0;
};

std::string render(const StoredObject& o, bool with_kind) {
  const bool slice = o.resource == "endpointslices";
  std::string out = "{";
  if (with_kind) {
    out += slice ? "\"kind\":\"EndpointSlice\",\"apiVersion\":\"discovery.k8s.io/v1\","
                 : "\"kind\":\"Service\",\"apiVersion\":\"v1\",";
  }
  out += "\"metadata\":{\"name\":\"" + json_escaped(o.name) + "\",\"namespace\":\"" +
         json_escaped(o.namespace_name) + "\",\"resourceVersion\":\"" +
         std::to_string(o.resource_version) + "\"";
  if (slice) {
    out += ",\"labels\":{\"kubernetes.io/service-name\":\"" + json_escaped(o.service) + "\"}";
  }
  out += "}" + o.members + "}";
  return out;
}

std::string ports_json(const std::vector<FakePort>& ports) {
  std::string out = "[";
  for (std::size_t i = 0; i < ports.size(); ++i) {
    if (i) out += ",";
    out += "{\"name\":\"" + json_escaped(ports[i].name) +
           "\",\"port\":" + std::to_string(ports[i].port) + ",\"protocol\":\"" + ports[i].protocol +
           "\"}";
  }
  return out + "]";
}

}  // namespace

struct FakeApiServer::Server {
  explicit Server(FakeApiServerOptions o) : options(std::move(o)) {}
  FakeApiServerOptions options;
  asio::io_context io;
  // The thread runs until the destructor stops it, also while nothing listens (stop_serving).
  asio::executor_work_guard<asio::io_context::executor_type> keep_running{io.get_executor()};
  std::optional<asio::ssl::context> tls;
  std::optional<tcp::acceptor> acceptor;
  mutable std::mutex mutex;
  std::vector<std::string> seen;

  // Discovery state, guarded by `mutex`.
  struct Event {
    std::uint64_t resource_version = 0;
    std::string type;
    StoredObject object;
  };
  struct Injection {
    std::string bytes;
    bool close = false;
    bool end = false;  // the last chunk: a normal end
  };
  std::map<std::tuple<std::string, std::string, std::string>, StoredObject> objects;
  std::vector<Event> history;
  std::uint64_t resource_version = 1000;
  std::uint64_t compacted = 0;
  bool gone_as_http = false;
  std::vector<Injection> injections;
  int fail_status = 0;
  std::uint64_t generation = 0;  // bumped by stop_serving: open watches end
  std::size_t open_watch_count = 0;
  std::size_t lists_served = 0;
  std::size_t watches_served = 0;
  std::uint16_t port = 0;
  bool refusing = false;  // on the io thread only
  // On the io thread only: what wakes the open watches.
  std::vector<std::weak_ptr<asio::steady_timer>> wakers;

  void wake_all() {
    for (auto& w : wakers) {
      if (auto timer = w.lock()) timer->cancel();
    }
    std::erase_if(wakers, [](const auto& w) { return w.expired(); });
  }

  // Under `mutex`.
  void change(const std::string& type, StoredObject object) {
    object.resource_version = ++resource_version;
    const auto key = std::make_tuple(object.resource, object.namespace_name, object.name);
    if (type == "DELETED") {
      objects.erase(key);
    } else {
      objects[key] = object;
    }
    history.push_back(Event{object.resource_version, type, std::move(object)});
  }

  bool selected(const StoredObject& o, const Collection& c) const {
    if (o.resource != c.resource || o.namespace_name != c.namespace_name) return false;
    if (c.resource == "endpointslices") {
      auto it = c.query.find("labelSelector");
      if (it == c.query.end()) return true;
      return it->second == "kubernetes.io/service-name=" + o.service;
    }
    auto it = c.query.find("fieldSelector");
    if (it == c.query.end()) return true;
    return it->second == "metadata.name=" + o.name;
  }

  using Stream = beast::ssl_stream<beast::tcp_stream>;

  static asio::awaitable<void> write_simple(Stream& stream, int status, std::string body) {
    http::response<http::string_body> response{static_cast<http::status>(status), 11};
    response.set(http::field::content_type, "application/json");
    response.body() = std::move(body);
    response.keep_alive(false);
    response.prepare_payload();
    boost::system::error_code ec;
    co_await http::async_write(stream, response, asio::redirect_error(asio::use_awaitable, ec));
    beast::get_lowest_layer(stream).socket().shutdown(tcp::socket::shutdown_both, ec);
  }

  // The header of a 200 JSON answer whose body follows in chunks (lists and watches).
  static asio::awaitable<bool> write_chunked_header(Stream& stream) {
    http::response<http::empty_body> header{http::status::ok, 11};
    header.set(http::field::content_type, "application/json");
    header.chunked(true);
    header.keep_alive(false);
    http::response_serializer<http::empty_body> serializer{header};
    boost::system::error_code ec;
    co_await http::async_write_header(stream, serializer,
                                      asio::redirect_error(asio::use_awaitable, ec));
    co_return !ec;
  }

  // Writes `data` as chunks of at most 1 MiB.
  static asio::awaitable<bool> write_chunks(Stream& stream, std::string_view data) {
    while (!data.empty()) {
      const auto piece = data.substr(0, 1 << 20);
      boost::system::error_code ec;
      co_await asio::async_write(stream, http::make_chunk(asio::buffer(piece.data(), piece.size())),
                                 asio::redirect_error(asio::use_awaitable, ec));
      if (ec) co_return false;
      data.remove_prefix(piece.size());
    }
    co_return true;
  }

  std::string forbidden_message(const std::string& verb, const Collection& c) const {
    const std::string group = c.resource == "endpointslices" ? "discovery.k8s.io" : "";
    const std::string full = group.empty() ? c.resource : c.resource + "." + group;
    return full + " is forbidden: User \"system:serviceaccount:" + options.namespace_name + ":" +
           options.service_account + "\" cannot " + verb + " resource \"" + c.resource +
           "\" in API group \"" + group + "\" in the namespace \"" + c.namespace_name + "\"";
  }

  asio::awaitable<void> serve_collection(Stream& stream,
                                         const http::request<http::empty_body>& request,
                                         const Collection& c) {
    if (request[http::field::authorization] != "Bearer " + options.token) {
      co_return co_await write_simple(stream, 401,
                                      status_json(401, "Unauthorized", "Unauthorized"));
    }
    const bool watch =
        c.query.count("watch") && (c.query.at("watch") == "1" || c.query.at("watch") == "true");
    const std::string verb = watch ? "watch" : "list";
    const std::string resource =
        c.resource == "endpointslices" ? "endpointslices.discovery.k8s.io" : "services";
    std::string name;
    if (auto it = c.query.find("fieldSelector");
        it != c.query.end() && it->second.starts_with("metadata.name=")) {
      name = it->second.substr(std::string_view("metadata.name=").size());
    }
    if (options.forbidden ||
        (options.authorize && !options.authorize(verb, resource, c.namespace_name)) ||
        (options.authorize_named &&
         !options.authorize_named(verb, resource, c.namespace_name, name))) {
      co_return co_await write_simple(stream, 403,
                                      status_json(403, "Forbidden", forbidden_message(verb, c)));
    }
    std::unique_lock lock(mutex);
    if (fail_status != 0) {
      const int status = fail_status;
      lock.unlock();
      co_return co_await write_simple(
          stream, status,
          status_json(status, "InternalError", "the fake API server fails on purpose"));
    }
    if (!watch) {
      ++lists_served;
      const std::string kind = c.resource == "endpointslices" ? "EndpointSliceList" : "ServiceList";
      const std::string api_version = c.resource == "endpointslices" ? "discovery.k8s.io/v1" : "v1";
      std::string body = "{\"kind\":\"" + kind + "\",\"apiVersion\":\"" + api_version +
                         "\",\"metadata\":{\"resourceVersion\":\"" +
                         std::to_string(resource_version) + "\"},\"items\":[";
      bool first = true;
      for (const auto& [key, object] : objects) {
        if (!selected(object, c)) continue;
        if (!first) body += ",";
        first = false;
        body += render(object, false);
      }
      body += "]}";
      lock.unlock();
      // Chunked, in two pieces, as a large list would come.
      if (!co_await write_chunked_header(stream)) co_return;
      const std::string_view all = body;
      if (!co_await write_chunks(stream, all.substr(0, all.size() / 2))) co_return;
      if (!co_await write_chunks(stream, all.substr(all.size() / 2))) co_return;
      boost::system::error_code ec;
      co_await asio::async_write(stream, http::make_chunk_last(),
                                 asio::redirect_error(asio::use_awaitable, ec));
      beast::get_lowest_layer(stream).socket().shutdown(tcp::socket::shutdown_both, ec);
      co_return;
    }

    std::uint64_t cursor = 0;
    if (auto it = c.query.find("resourceVersion"); it != c.query.end() && !it->second.empty()) {
      cursor = std::stoull(it->second);
    }
    if (cursor < compacted) {
      const bool as_http = gone_as_http;
      lock.unlock();
      const std::string gone = status_json(410, "Expired",
                                           "too old resource version: " + std::to_string(cursor) +
                                               " (" + std::to_string(compacted) + ")");
      if (as_http) co_return co_await write_simple(stream, 410, gone);
      // Status JSON ends with a newline already.
      std::string event =
          "{\"type\":\"ERROR\",\"object\":" + gone.substr(0, gone.size() - 1) + "}\n";
      http::response<http::empty_body> header{http::status::ok, 11};
      header.set(http::field::content_type, "application/json");
      header.chunked(true);
      header.keep_alive(false);
      http::response_serializer<http::empty_body> serializer{header};
      boost::system::error_code ec;
      co_await http::async_write_header(stream, serializer,
                                        asio::redirect_error(asio::use_awaitable, ec));
      if (!ec && co_await write_chunks(stream, event)) {
        co_await asio::async_write(stream, http::make_chunk_last(),
                                   asio::redirect_error(asio::use_awaitable, ec));
      }
      beast::get_lowest_layer(stream).socket().shutdown(tcp::socket::shutdown_both, ec);
      co_return;
    }
    ++watches_served;
    ++open_watch_count;
    std::size_t injected = injections.size();
    const std::uint64_t generation_at_start = generation;
    lock.unlock();
    struct Closing {
      Server& server;
      ~Closing() {
        std::lock_guard lock(server.mutex);
        --server.open_watch_count;
      }
    } closing{*this};

    int timeout_seconds = 1800;
    if (auto it = c.query.find("timeoutSeconds"); it != c.query.end()) {
      timeout_seconds = std::stoi(it->second);
    }
    const auto end = std::chrono::steady_clock::now() + std::chrono::seconds(timeout_seconds);
    beast::get_lowest_layer(stream).expires_never();
    auto timer = std::make_shared<asio::steady_timer>(io);
    wakers.push_back(timer);

    if (!co_await write_chunked_header(stream)) co_return;
    boost::system::error_code ec;
    // A client that goes away is noticed by a read, as a real server notices it: the watch
    // ends then, not at its timeout. The read must be over before the stream goes.
    auto peer_gone = std::make_shared<bool>(false);
    auto reader_done =
        std::make_shared<asio::steady_timer>(io, asio::steady_timer::time_point::max());
    auto reader_finished = std::make_shared<bool>(false);
    asio::co_spawn(
        io,
        [&stream, timer, peer_gone, reader_done, reader_finished]() -> asio::awaitable<void> {
          char byte = 0;
          boost::system::error_code read_error;
          co_await stream.async_read_some(asio::buffer(&byte, 1),
                                          asio::redirect_error(asio::use_awaitable, read_error));
          *peer_gone = true;
          *reader_finished = true;
          timer->cancel();
          reader_done->cancel();
        },
        asio::detached);
    bool last_chunk = false;
    for (;;) {
      std::string out;
      bool close = false;
      bool end_now = false;
      {
        std::lock_guard guard(mutex);
        if (generation != generation_at_start || *peer_gone) close = true;
        for (const auto& event : history) {
          if (close || event.resource_version <= cursor) continue;
          cursor = event.resource_version;
          if (!selected(event.object, c)) continue;
          out +=
              "{\"type\":\"" + event.type + "\",\"object\":" + render(event.object, true) + "}\n";
        }
        for (; !close && !end_now && injected < injections.size(); ++injected) {
          out += injections[injected].bytes;
          close = injections[injected].close;
          end_now = injections[injected].end;
        }
      }
      if (!out.empty() && !co_await write_chunks(stream, out)) break;
      // `close`: no last chunk, the stream is cut.
      if (close) break;
      if (end_now || std::chrono::steady_clock::now() >= end) {
        last_chunk = true;
        break;
      }
      {
        // A change made while the chunk above was being written woke no one (its wake found
        // no wait to cancel): look again before waiting, or that event waits for the next.
        std::lock_guard guard(mutex);
        const bool pending = generation != generation_at_start || *peer_gone ||
                             injected < injections.size() ||
                             (!history.empty() && history.back().resource_version > cursor);
        if (pending) continue;
      }
      timer->expires_at(end);
      co_await timer->async_wait(asio::redirect_error(asio::use_awaitable, ec));
    }
    if (last_chunk) {
      co_await asio::async_write(stream, http::make_chunk_last(),
                                 asio::redirect_error(asio::use_awaitable, ec));
      beast::get_lowest_layer(stream).socket().shutdown(tcp::socket::shutdown_send, ec);
      // The client closes once it has read the end; the reader sees that.
      timer->expires_after(std::chrono::seconds(5));
      if (!*reader_finished) {
        co_await timer->async_wait(asio::redirect_error(asio::use_awaitable, ec));
      }
    }
    beast::get_lowest_layer(stream).socket().close(ec);
    if (!*reader_finished) {
      co_await reader_done->async_wait(asio::redirect_error(asio::use_awaitable, ec));
    }
  }

  struct Answer {
    int status = 200;
    std::string body;
  };

  asio::awaitable<void> accept_loop() {
    for (;;) {
      boost::system::error_code ec;
      tcp::socket socket =
          co_await acceptor->async_accept(asio::redirect_error(asio::use_awaitable, ec));
      if (ec == asio::error::operation_aborted) co_return;
      if (ec) continue;
      if (refusing) {
        // Down: every connection is reset at once. The port stays bound, so that nothing
        // else (not even a client's own ephemeral port, connecting to itself) can take it.
        socket.set_option(asio::socket_base::linger(true, 0), ec);
        socket.close(ec);
        continue;
      }
      asio::co_spawn(io, serve(std::move(socket)), asio::detached);
    }
  }

  // When a request that starts now must be over (request_deadline), if it has one.
  std::optional<Clock::time_point> request_over() const {
    if (options.request_deadline.count() <= 0) return std::nullopt;
    return Clock::now() + options.request_deadline;
  }

  // Connects to ip:port as kube-apiserver's dialer does: one attempt, a dial timeout (and
  // the request's deadline, when that comes first).
  asio::awaitable<std::optional<tcp::socket>> dial(const std::string& ip, std::uint16_t port,
                                                   std::optional<Clock::time_point> over,
                                                   std::string& error) {
    if (options.dial_allowed && !options.dial_allowed(ip)) {
      error = "Address is not allowed";
      co_return std::nullopt;
    }
    tcp::socket socket(io);
    boost::system::error_code ec;
    bool timed_out = false;
    auto until = Deadline::after(options.dial_timeout);
    const bool request_first = over && *over < until.at;
    if (request_first) until.at = *over;
    {
      ExpiryGuard guard(io.get_executor(), until, [&socket] {
        boost::system::error_code ignored;
        socket.cancel(ignored);
      });
      co_await socket.async_connect(tcp::endpoint(asio::ip::make_address(ip), port),
                                    asio::redirect_error(asio::use_awaitable, ec));
      timed_out = guard.fired();
    }
    if (timed_out && request_first) {
      error = "context deadline exceeded";
      co_return std::nullopt;
    }
    if (ec || timed_out) {
      error = "dial tcp " + ip + ":" + std::to_string(port) + ": " + go_dial_error(ec, timed_out);
      co_return std::nullopt;
    }
    co_return std::optional<tcp::socket>(std::move(socket));
  }

  asio::awaitable<Answer> proxy(std::uint16_t port, const std::string& path) {
    std::string error;
    const auto over = request_over();
    auto socket = co_await dial(options.pod_ip, port, over, error);
    if (!socket) {
      co_return Answer{
          503, status_json(503, "ServiceUnavailable", "error trying to reach service: " + error)};
    }
    beast::tcp_stream stream(std::move(*socket));
    auto headers_until = Clock::now() + options.response_header_timeout;
    const bool request_first = over && *over < headers_until;
    if (request_first) headers_until = *over;
    stream.expires_at(headers_until);
    http::request<http::empty_body> request{http::verb::get, path, 11};
    request.set(http::field::host, options.pod_ip + ":" + std::to_string(port));
    request.set(http::field::connection, "close");
    boost::system::error_code ec;
    co_await http::async_write(stream, request, asio::redirect_error(asio::use_awaitable, ec));
    beast::flat_buffer buffer;
    http::response<http::string_body> response;
    if (!ec) {
      co_await http::async_read(stream, buffer, response,
                                asio::redirect_error(asio::use_awaitable, ec));
    }
    if (ec == beast::error::timeout) {
      co_return Answer{
          503,
          status_json(503, "ServiceUnavailable",
                      request_first ? "error trying to reach service: context deadline exceeded"
                                    : "error trying to reach service: net/http: request "
                                      "canceled (Client.Timeout exceeded while awaiting "
                                      "headers)")};
    }
    if (ec) {
      co_return Answer{503, status_json(503, "ServiceUnavailable",
                                        "error trying to reach service: " +
                                            go_read_error(ec, stream.socket(), buffer))};
    }
    co_return Answer{static_cast<int>(response.result_int()), response.body()};
  }

  asio::awaitable<Answer> logs() {
    std::string error;
    auto socket = co_await dial(options.pod_ip, options.kubelet_port, request_over(), error);
    if (!socket) {
      co_return Answer{500,
                       status_json(500, "InternalError",
                                   "Get \"https://" + options.pod_ip + ":" +
                                       std::to_string(options.kubelet_port) + "/containerLogs/" +
                                       options.namespace_name + "/" + options.pod_name +
                                       "/reachprobe?tailLines=1\": " + error)};
    }
    co_return Answer{200, "level=info msg=\"reachprobe started\"\n"};
  }

  asio::awaitable<Answer> answer(const http::request<http::empty_body>& request) {
    const std::string target(request.target());
    {
      std::lock_guard lock(mutex);
      seen.push_back(target);
    }
    if (request[http::field::authorization] != "Bearer " + options.token) {
      co_return Answer{401, status_json(401, "Unauthorized", "Unauthorized")};
    }
    auto route = parse_route(target);
    if (!route) co_return Answer{404, status_json(404, "NotFound", "not found")};
    const bool is_proxy = route->proxy_port != 0;
    const std::string& ns = route->namespace_name;
    const std::string& pod = route->pod;
    const std::string pod_resource = is_proxy ? "pods/proxy" : "pods/log";
    if (options.forbidden || (options.authorize && !options.authorize("get", pod_resource, ns)) ||
        (options.authorize_named && !options.authorize_named("get", pod_resource, ns, pod))) {
      co_return Answer{
          403, status_json(403, "Forbidden",
                           "pods \"" + pod + "\" is forbidden: User \"system:serviceaccount:" + ns +
                               ":reachprobe\" cannot get resource \"pods/" +
                               (is_proxy ? "proxy" : "log") +
                               "\" in API group \"\" in the "
                               "namespace \"" +
                               ns + "\"")};
    }
    if (ns != options.namespace_name || pod != options.pod_name) {
      co_return Answer{404, status_json(404, "NotFound", "pods \"" + pod + "\" not found")};
    }
    if (is_proxy) co_return co_await proxy(route->proxy_port, route->proxy_path);
    co_return co_await logs();
  }

  asio::awaitable<void> serve(tcp::socket socket) {
    beast::ssl_stream<beast::tcp_stream> stream(beast::tcp_stream(std::move(socket)), *tls);
    beast::get_lowest_layer(stream).expires_after(std::chrono::seconds(30));
    boost::system::error_code ec;
    co_await stream.async_handshake(asio::ssl::stream_base::server,
                                    asio::redirect_error(asio::use_awaitable, ec));
    if (ec) co_return;
    beast::flat_buffer buffer;
    http::request<http::empty_body> request;
    co_await http::async_read(stream, buffer, request,
                              asio::redirect_error(asio::use_awaitable, ec));
    if (ec) co_return;
    const std::string target(request.target());
    if (auto collection = parse_collection(target)) {
      {
        std::lock_guard lock(mutex);
        seen.push_back(target);
      }
      co_return co_await serve_collection(stream, request, *collection);
    }
    Answer a = co_await answer(request);
    http::response<http::string_body> response{static_cast<http::status>(a.status), 11};
    response.set(http::field::content_type,
                 a.body.starts_with("{") ? "application/json" : "text/plain");
    response.body() = std::move(a.body);
    response.keep_alive(false);
    response.prepare_payload();
    co_await http::async_write(stream, response, asio::redirect_error(asio::use_awaitable, ec));
    beast::get_lowest_layer(stream).socket().shutdown(tcp::socket::shutdown_both, ec);
  }
};

FakeApiServer::FakeApiServer(FakeApiServerOptions options)
    : server_(std::make_shared<Server>(std::move(options))) {
  std::promise<std::uint16_t> started;
  auto port = started.get_future();
  thread_ = std::thread([server = server_, &started] {
    try {
      if (!server->options.netns.empty()) {
        // Every socket this thread makes (listener, dials) is the control plane's.
        const std::string path = "/var/run/netns/" + server->options.netns;
        const int ns = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
        if (ns < 0 || ::setns(ns, CLONE_NEWNET) != 0) {
          if (ns >= 0) ::close(ns);
          throw std::runtime_error("setns " + path + ": " + std::strerror(errno));
        }
        ::close(ns);
      }
      server->tls.emplace(asio::ssl::context::tls_server);
      server->tls->use_certificate_chain(asio::buffer(server->options.certificate.cert_pem));
      server->tls->use_private_key(asio::buffer(server->options.certificate.key_pem),
                                   asio::ssl::context::pem);
      server->acceptor.emplace(
          server->io, tcp::endpoint(asio::ip::make_address(server->options.listen_address), 0));
      asio::co_spawn(server->io, server->accept_loop(), asio::detached);
      server->port = server->acceptor->local_endpoint().port();
      started.set_value(server->port);
    } catch (...) {
      started.set_exception(std::current_exception());
      return;
    }
    server->io.run();
  });
  try {
    port_ = port.get();
  } catch (...) {
    thread_.join();
    throw;
  }
}

FakeApiServer::~FakeApiServer() {
  server_->io.stop();
  thread_.join();
}

std::string FakeApiServer::url() const {
  return "https://" + server_->options.listen_address + ":" + std::to_string(port_);
}

std::vector<std::string> FakeApiServer::requests() const {
  std::lock_guard lock(server_->mutex);
  return server_->seen;
}

}  // namespace reachprobe::test

namespace reachprobe::test {

namespace {

// Runs `work` on the server's thread and waits for it.
void on_server_thread(asio::io_context& io, std::function<void()> work) {
  std::promise<void> done;
  asio::post(io, [&] {
    work();
    done.set_value();
  });
  done.get_future().wait();
}

}  // namespace

void FakeApiServer::set_endpoint_slice(const std::string& namespace_name, const std::string& name,
                                       const std::string& service,
                                       std::vector<FakeSliceEndpoint> endpoints,
                                       std::vector<FakePort> ports,
                                       const std::string& address_type) {
  StoredObject object{"endpointslices", namespace_name, name, service, "", 0};
  object.members = ",\"addressType\":\"" + address_type + "\",\"endpoints\":[";
  for (std::size_t i = 0; i < endpoints.size(); ++i) {
    const auto& e = endpoints[i];
    if (i) object.members += ",";
    object.members += "{\"addresses\":[\"" + json_escaped(e.ip) + "\"],\"conditions\":{";
    if (e.ready) object.members += std::string("\"ready\":") + (*e.ready ? "true" : "false") + ",";
    object.members += "\"terminating\":false}";
    if (!e.node_name.empty())
      object.members += ",\"nodeName\":\"" + json_escaped(e.node_name) + "\"";
    if (!e.zone.empty()) object.members += ",\"zone\":\"" + json_escaped(e.zone) + "\"";
    object.members += "}";
  }
  object.members += "],\"ports\":" + ports_json(ports);
  {
    std::lock_guard lock(server_->mutex);
    const bool exists = server_->objects.count({"endpointslices", namespace_name, name}) > 0;
    server_->change(exists ? "MODIFIED" : "ADDED", std::move(object));
  }
  asio::post(server_->io, [server = server_] { server->wake_all(); });
}

void FakeApiServer::delete_endpoint_slice(const std::string& namespace_name,
                                          const std::string& name) {
  {
    std::lock_guard lock(server_->mutex);
    auto it = server_->objects.find({"endpointslices", namespace_name, name});
    if (it == server_->objects.end()) return;
    server_->change("DELETED", it->second);
  }
  asio::post(server_->io, [server = server_] { server->wake_all(); });
}

void FakeApiServer::set_service(const std::string& namespace_name, const std::string& name,
                                std::vector<std::string> cluster_ips, std::vector<FakePort> ports) {
  StoredObject object{"services", namespace_name, name, name, "", 0};
  const std::string first = cluster_ips.empty() ? "None" : cluster_ips.front();
  object.members = ",\"spec\":{\"clusterIP\":\"" + json_escaped(first) + "\",\"clusterIPs\":[";
  for (std::size_t i = 0; i < cluster_ips.size(); ++i) {
    if (i) object.members += ",";
    object.members += "\"" + json_escaped(cluster_ips[i]) + "\"";
  }
  object.members += "],\"ports\":" + ports_json(ports) + "}";
  {
    std::lock_guard lock(server_->mutex);
    const bool exists = server_->objects.count({"services", namespace_name, name}) > 0;
    server_->change(exists ? "MODIFIED" : "ADDED", std::move(object));
  }
  asio::post(server_->io, [server = server_] { server->wake_all(); });
}

void FakeApiServer::delete_service(const std::string& namespace_name, const std::string& name) {
  {
    std::lock_guard lock(server_->mutex);
    auto it = server_->objects.find({"services", namespace_name, name});
    if (it == server_->objects.end()) return;
    server_->change("DELETED", it->second);
  }
  asio::post(server_->io, [server = server_] { server->wake_all(); });
}

void FakeApiServer::compact(bool gone_as_http) {
  std::lock_guard lock(server_->mutex);
  server_->compacted = ++server_->resource_version;
  server_->gone_as_http = gone_as_http;
}

void FakeApiServer::bookmark() {
  std::string event;
  {
    std::lock_guard lock(server_->mutex);
    event =
        "{\"type\":\"BOOKMARK\",\"object\":{\"kind\":\"EndpointSlice\",\"apiVersion\":"
        "\"discovery.k8s.io/v1\",\"metadata\":{\"resourceVersion\":\"" +
        std::to_string(server_->resource_version) + "\"}}}\n";
  }
  inject(std::move(event));
}

void FakeApiServer::inject(std::string bytes, bool then_close) {
  {
    std::lock_guard lock(server_->mutex);
    server_->injections.push_back({std::move(bytes), then_close});
  }
  asio::post(server_->io, [server = server_] { server->wake_all(); });
}

void FakeApiServer::end_watches() {
  {
    std::lock_guard lock(server_->mutex);
    server_->injections.push_back({"", false, true});
  }
  asio::post(server_->io, [server = server_] { server->wake_all(); });
}

void FakeApiServer::fail_with(int status) {
  std::lock_guard lock(server_->mutex);
  server_->fail_status = status;
}

void FakeApiServer::stop_serving() {
  on_server_thread(server_->io, [server = server_] {
    server->refusing = true;
    {
      std::lock_guard lock(server->mutex);
      ++server->generation;
    }
    server->wake_all();
  });
}

void FakeApiServer::resume() {
  on_server_thread(server_->io, [server = server_] { server->refusing = false; });
}

std::size_t FakeApiServer::open_watches() const {
  std::lock_guard lock(server_->mutex);
  return server_->open_watch_count;
}

std::size_t FakeApiServer::list_count() const {
  std::lock_guard lock(server_->mutex);
  return server_->lists_served;
}

std::size_t FakeApiServer::watch_count() const {
  std::lock_guard lock(server_->mutex);
  return server_->watches_served;
}

}  // namespace reachprobe::test
