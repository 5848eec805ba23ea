#include "probe/probers/http.hpp"

#include <fmt/format.h>

namespace reachprobe {

namespace asio = boost::asio;
namespace http = boost::beast::http;

namespace {

// As curl and Go's client: enough for any sane chain, few enough to stop a loop.
constexpr int kMaxRedirects = 5;

}  // namespace

HttpProber::HttpProber(std::shared_ptr<dns::Resolver> resolver) : client_(std::move(resolver)) {}

asio::awaitable<ProbeResult> HttpProber::probe(const Endpoint& endpoint, Deadline deadline) {
  const auto start = Clock::now();
  ProbeResult result;
  co_await request(*endpoint.target, deadline, result);
  result.set_phase(Phase::Total, since(start));
  co_return result;
}

asio::awaitable<void> HttpProber::request(const Target& target, Deadline deadline,
                                          ProbeResult& result) {
  auto parsed = parse_url(target.url);
  if (auto* problem = std::get_if<std::string>(&parsed)) {
    result.outcome = Outcome::Error;
    result.message = *problem;
    co_return;
  }
  Url url = std::get<Url>(parsed);
  const TlsOptions tls = target.tls.value_or(TlsOptions{});
  std::string token;
  if (!target.bearer_token_file.empty()) {
    auto read = tokens_.read(target.bearer_token_file);
    if (!read.problem.empty()) {
      result.outcome = Outcome::Error;
      result.message = read.problem;
      co_return;
    }
    token = std::move(read.token);
  }

  std::string current_url = target.url;
  for (int hop = 0;; ++hop) {
    auto message = make_request(http::string_to_verb(target.method), url, token, target.headers);

    // Each hop's phases are its own; the total covers them all.
    result.phases = {};
    auto response = co_await client_.exchange(url, message, tls, deadline, result);
    if (!response) co_return;
    result.http_status = response->status;

    const bool redirect = is_redirect_status(response->status) && !response->location.empty();
    if (redirect && target.follow_redirects &&
        !status_expected(response->status, target.expect_status)) {
      if (hop == kMaxRedirects) {
        result.outcome = Outcome::Error;
        result.message = fmt::format("more than {} redirects, the last to {}", kMaxRedirects,
                                     body_excerpt(response->location, kBodyExcerptBytes));
        co_return;
      }
      auto next = resolve_location(url, response->location);
      if (auto* problem = std::get_if<std::string>(&next)) {
        result.outcome = Outcome::Error;
        result.message = fmt::format("{} redirects to an unusable location: {}", current_url,
                                     body_excerpt(*problem, kBodyExcerptBytes));
        co_return;
      }
      // A token goes only where it was meant to go, as Go's client and curl do.
      if (std::get<Url>(next).host != url.host) token.clear();
      url = std::get<Url>(next);
      current_url =
          fmt::format("{}://{}{}", url.https ? "https" : "http", url.authority(), url.target);
      continue;
    }
    result.outcome =
        status_expected(response->status, target.expect_status) ? Outcome::Ok : Outcome::BadStatus;
    result.message = describe_response(*response, current_url, target.expect_status,
                                       redirect && !target.follow_redirects);
    co_return;
  }
}

}  // namespace reachprobe
