#pragma once

#include <boost/property_tree/ptree.hpp>
#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace reachprobe::kube {

// The largest object or watch event accepted: far above any EndpointSlice (at most 1000
// endpoints) or Service, and a bound on what a broken or hostile stream can make us hold.
inline constexpr std::size_t kMaxObjectBytes = 16u << 20;

// Deeper JSON than this is refused before parsing: property_tree's parser recurses once per
// level, so a line of brackets would otherwise overflow the stack. Kubernetes objects nest
// a dozen levels at most.
inline constexpr int kMaxJsonDepth = 64;

enum class EventType { Added, Modified, Deleted, Bookmark, Error };

struct WatchEvent {
  EventType type = EventType::Added;
  boost::property_tree::ptree object;
};

// Parses one JSON document (an object or a list response) with the bounds above; nullopt
// and `error` set if it is not valid JSON, too deep or too large.
std::optional<boost::property_tree::ptree> parse_json(std::string_view text, std::string& error);

// The body of a watch response, fed in whatever pieces the network delivers: one JSON
// object per line, {"type": "...", "object": {...}}. Holds at most one incomplete event
// (bounded by max_event_bytes). After the first error it stays failed: the stream cannot
// be resynchronised, the watch must be dropped.
class WatchEventParser {
 public:
  enum class Status { Ok, TooLarge, Malformed };

  explicit WatchEventParser(std::size_t max_event_bytes = kMaxObjectBytes)
      : max_event_bytes_(max_event_bytes) {}

  // Appends the complete events in `bytes` (with what was held before) to `out`.
  Status feed(std::string_view bytes, std::vector<WatchEvent>& out);

  Status status() const { return status_; }
  const std::string& error() const { return error_; }
  // Bytes of an event begun but not ended: at the end of a stream, a cut mid-event.
  bool mid_event() const;

 private:
  Status fail(Status status, std::string error);
  Status parse_line(std::string_view line, std::vector<WatchEvent>& out);

  std::size_t max_event_bytes_;
  std::string pending_;
  Status status_ = Status::Ok;
  std::string error_;
};

}  // namespace reachprobe::kube
