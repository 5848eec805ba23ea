#include "probe/http/routes.hpp"

#include <gtest/gtest.h>

namespace reachprobe::http {
namespace {

using boost::beast::http::verb;

TEST(Route, ByPathThenMethod) {
  EXPECT_EQ(route(verb::get, "/metrics"), Route::Metrics);
  EXPECT_EQ(route(verb::head, "/metrics?x=1"), Route::Metrics);
  EXPECT_EQ(route(verb::get, "/healthz"), Route::Healthz);
  EXPECT_EQ(route(verb::get, "/readyz"), Route::Readyz);
  EXPECT_EQ(route(verb::get, "/"), Route::Index);
  EXPECT_EQ(route(verb::post, "/metrics"), Route::MethodNotAllowed);
  EXPECT_EQ(route(verb::post, "/nope"), Route::NotFound);
  EXPECT_EQ(route(verb::get, "/metrics/"), Route::NotFound);
}

TEST(StatusForRequestBytes, WhatTheServerAnswers) {
  EXPECT_EQ(status_for_request_bytes("GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n", 8192), 200);
  EXPECT_EQ(status_for_request_bytes("GET /metrics HTTP/1.1\r\nHo", 8192), 0) << "incomplete";
  EXPECT_EQ(status_for_request_bytes("DELETE /metrics HTTP/1.1\r\n\r\n", 8192), 405);
  EXPECT_EQ(status_for_request_bytes("GET /x HTTP/1.1\r\n\r\n", 8192), 404);
  EXPECT_EQ(status_for_request_bytes("\x16\x03\x01 garbage\r\n\r\n", 8192), 400);
  EXPECT_EQ(
      status_for_request_bytes("GET / HTTP/1.1\r\nX: " + std::string(9000, 'a') + "\r\n\r\n", 8192),
      431);
}

}  // namespace
}  // namespace reachprobe::http
