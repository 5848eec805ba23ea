#pragma once

#include <boost/asio/awaitable.hpp>
#include <boost/asio/io_context.hpp>
#include <chrono>
#include <memory>
#include <optional>
#include <string>

#include "probe/aws/node_facts.hpp"
#include "probe/config/config.hpp"
#include "probe/core/probe_result.hpp"
#include "probe/core/url.hpp"
#include "probe/probers/http_client.hpp"

namespace reachprobe::aws {

inline constexpr std::string_view kImdsEndpointVariable = "AWS_EC2_METADATA_SERVICE_ENDPOINT";
inline constexpr std::string_view kImdsDisabledVariable = "AWS_EC2_METADATA_DISABLED";
inline constexpr std::string_view kDefaultImdsEndpoint = "http://169.254.169.254";
// Set by the test suite for every process it starts (tests/CMakeLists.txt, the
// ChildProcess helper): under it, the real IMDS address is refused by aborting, so a code
// path that would reach it fails its test instead of sending a packet off the machine.
inline constexpr std::string_view kTestSuiteVariable = "REACHPROBE_TEST_SUITE";

// Where IMDS is, as the AWS SDKs find it.
struct ImdsEndpoint {
  bool disabled = false;  // AWS_EC2_METADATA_DISABLED=true
  std::optional<Url> url;
  std::string text;     // the URL as given, for log lines
  std::string problem;  // an unusable AWS_EC2_METADATA_SERVICE_ENDPOINT
};
ImdsEndpoint imds_endpoint(const config::EnvLookup& env);

// Whether `url` is the real instance metadata service (169.254.169.254, fd00:ec2::254).
bool is_real_imds(const Url& url);
// Aborts the process, with a message on stderr, if `url` is the real IMDS and
// REACHPROBE_TEST_SUITE is set in `env`.
void refuse_real_imds_under_test(const Url& url, const config::EnvLookup& env);

struct ImdsOptions {
  // What the token asks for (X-aws-ec2-metadata-token-ttl-seconds); AWS allows 1..21600.
  std::chrono::seconds token_ttl{21600};
  // Each request, connect to last byte.
  Duration request_timeout = std::chrono::seconds(1);
};

struct ImdsReply {
  std::optional<std::string> body;  // set on HTTP 200
  int status = 0;                   // 0: no HTTP answer
  std::string error;                // why there is no body
};

// An IMDSv2 client on the event loop: a token from PUT /latest/api/token, renewed before it
// expires, sent with every GET. A failed token request (no IMDS, a hop limit that drops the
// PUT's answer, 401/403) or a GET without an HTTP answer (a stalled IMDS) is final for the
// client's life: later calls fail at once with the same error, so a broken IMDS costs one
// request, never a retry storm. A GET answered 401 (a token IMDS no longer honours) gets
// one new token and one retry.
class ImdsClient {
 public:
  ImdsClient(std::shared_ptr<dns::Resolver> resolver, Url base, ImdsOptions options = {},
             const config::EnvLookup& env = config::system_env());

  // `path` must outlive the call (callers co_await it at once).
  boost::asio::awaitable<ImdsReply> get(const std::string& path);
  // Region, zone, instance id, and the primary interface's groups, subnet, VPC and CIDR
  // blocks; what could not be read is in `problems`.
  boost::asio::awaitable<NodeFacts> node_facts();

  std::size_t token_requests() const { return token_requests_; }
  // Why this client has stopped asking IMDS; empty while it works.
  const std::string& problem() const { return problem_; }

 private:
  boost::asio::awaitable<bool> renew_token();
  boost::asio::awaitable<ImdsReply> get_once(const std::string& path);

  HttpClient http_;
  Url base_;
  ImdsOptions options_;
  std::string token_;
  Clock::time_point renew_at_{};
  std::string problem_;
  std::size_t token_requests_ = 0;
};

// Reads the node's facts once, running `io` until done (each request is bounded by its
// 1 s timeout, so at most a few seconds when IMDS answers slowly). Logs one line with the
// facts, or one line per problem. Empty facts when IMDS is disabled or unreachable.
NodeFacts read_node_facts(boost::asio::io_context& io,
                          const config::EnvLookup& env = config::system_env(),
                          ImdsOptions options = {});

}  // namespace reachprobe::aws
