// Watch streams of the Kubernetes API as discovery reads them from a server it does not
// control: any bytes, in any pieces, give events or an error, never a crash, and the
// parser never holds more than one event's worth.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>
#include <vector>

#include "probe/kube/event_stream.hpp"
#include "probe/kube/objects.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  using namespace reachprobe::kube;
  // The first byte chooses where the bytes are cut into pieces (as the network would);
  // a small event limit lets the fuzzer reach too_large.
  const std::size_t piece = 1 + data[0] % 64;
  std::string_view bytes(reinterpret_cast<const char*>(data + 1), size - 1);
  WatchEventParser parser(4096);
  std::vector<WatchEvent> events;
  while (!bytes.empty() && parser.status() == WatchEventParser::Status::Ok) {
    const auto part = bytes.substr(0, piece);
    bytes.remove_prefix(part.size());
    parser.feed(part, events);
  }
  for (const auto& event : events) {
    for (Resource resource :
         {Resource::EndpointSlices, Resource::Services, Resource::ValidatingWebhookConfigurations,
          Resource::MutatingWebhookConfigurations, Resource::ApiServices}) {
      auto parsed = parse_object(event.object, resource);
      if (auto* object = std::get_if<ParsedObject>(&parsed)) {
        if (object->name.empty()) std::abort();
      }
    }
    (void)parse_status(event.object);
  }
  // The whole input as a list response too.
  std::string error;
  const std::string_view all(reinterpret_cast<const char*>(data + 1), size - 1);
  if (auto tree = parse_json(all, error)) {
    (void)parse_list(*tree, Resource::EndpointSlices);
    (void)parse_list(*tree, Resource::Services);
    (void)parse_list(*tree, Resource::MutatingWebhookConfigurations);
    (void)parse_list(*tree, Resource::ApiServices);
  } else if (error.empty()) {
    std::abort();
  }
  return 0;
}
