// Any bytes sent to the HTTP server: parsed with the server's limits and routed.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "probe/http/routes.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view bytes(reinterpret_cast<const char*>(data), size);
  const int status = reachprobe::http::status_for_request_bytes(bytes, 8192);
  if (status != 0 && status != 200 && status != 400 && status != 404 && status != 405 &&
      status != 431) {
    __builtin_trap();
  }
  return 0;
}
