// Any bytes as a DNS reply, as c-ares hands them to the dns prober.
#include <cstddef>
#include <cstdint>

#include "probe/dns/message.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  auto parsed = reachprobe::dns::parse_reply(data, size);
  (void)parsed;
  return 0;
}
