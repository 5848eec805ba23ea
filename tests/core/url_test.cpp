#include "probe/core/url.hpp"

#include <gtest/gtest.h>

namespace reachprobe {
namespace {

Url parsed(std::string_view text) {
  auto result = parse_url(text);
  if (auto* problem = std::get_if<std::string>(&result)) {
    ADD_FAILURE() << *problem;
    return {};
  }
  return std::get<Url>(result);
}

std::string problem(std::string_view text) {
  auto result = parse_url(text);
  if (auto* p = std::get_if<std::string>(&result)) return *p;
  return "";
}

TEST(Url, SchemeHostPortAndTarget) {
  auto u = parsed("https://kubernetes.default.svc/readyz?verbose");
  EXPECT_TRUE(u.https);
  EXPECT_EQ(u.host, "kubernetes.default.svc");
  EXPECT_EQ(u.port, 443);
  EXPECT_EQ(u.target, "/readyz?verbose");
  EXPECT_EQ(u.authority(), "kubernetes.default.svc");

  u = parsed("HTTP://127.0.0.1:8080");
  EXPECT_FALSE(u.https);
  EXPECT_EQ(u.port, 8080);
  EXPECT_EQ(u.target, "/");
  EXPECT_EQ(u.authority(), "127.0.0.1:8080");

  u = parsed("http://[::1]:9090/metrics#top");
  EXPECT_EQ(u.host, "::1");
  EXPECT_EQ(u.target, "/metrics");
  EXPECT_EQ(u.authority(), "[::1]:9090");

  EXPECT_EQ(parsed("http://a.test?x=1").target, "/?x=1");
}

TEST(Url, ProblemsNameTheUrl) {
  EXPECT_EQ(problem("ftp://x"), "URL 'ftp://x' must start with http:// or https://");
  EXPECT_EQ(problem("http://u:p@x/"),
            "URL 'http://u:p@x/' must not contain credentials; use headers or bearer_token_file");
  EXPECT_EQ(problem("http://x:0/"), "URL 'http://x:0/' has an invalid port");
  EXPECT_EQ(problem("http://x:65536/"), "URL 'http://x:65536/' has an invalid port");
  EXPECT_EQ(problem("http://[::1/"), "URL 'http://[::1/' has an unclosed '['");
  EXPECT_EQ(problem("http:///path"), "URL 'http:///path' has no host");
  EXPECT_EQ(problem("http://x/a b"), "URL 'http://x/a b' contains whitespace");
}

TEST(Url, RedirectLocations) {
  const Url base = parsed("https://api.test:8443/v1/readyz?x");
  auto at = [&](std::string_view location) {
    auto r = resolve_location(base, location);
    return std::holds_alternative<Url>(r) ? std::get<Url>(r) : Url{};
  };
  EXPECT_EQ(at("/login").target, "/login");
  EXPECT_EQ(at("/login").port, 8443);
  EXPECT_EQ(at("healthz").target, "/v1/healthz");
  EXPECT_EQ(at("//other.test/x").host, "other.test");
  EXPECT_TRUE(at("//other.test/x").https);
  EXPECT_EQ(at("http://plain.test/").port, 80);
  EXPECT_TRUE(std::holds_alternative<std::string>(resolve_location(base, "")));
}

}  // namespace
}  // namespace reachprobe
