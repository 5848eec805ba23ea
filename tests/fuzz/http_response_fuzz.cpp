// HTTP responses as the http prober reads them from a server it does not control: any
// bytes must give a summary or a problem, never a crash, and stay within the limits.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "probe/probers/http_response.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  // The first byte chooses GET or HEAD; the rest is the response.
  const bool head = (data[0] & 1) != 0;
  const std::string_view bytes(reinterpret_cast<const char*>(data + 1), size - 1);
  auto result = reachprobe::parse_http_response(bytes, head);
  if (auto* summary = std::get_if<reachprobe::HttpResponseSummary>(&result)) {
    if (summary->body_excerpt.size() > reachprobe::kBodyExcerptBytes + 3) std::abort();
    if (summary->reason.size() > reachprobe::kBodyExcerptBytes + 3) std::abort();
    auto text = reachprobe::describe_response(*summary, "https://fuzz.test/", {200, 204},
                                              reachprobe::is_redirect_status(summary->status));
    if (text.find('\n') != std::string::npos || text.find('\r') != std::string::npos) std::abort();
  }
  return 0;
}
