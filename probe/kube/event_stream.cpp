#include "probe/kube/event_stream.hpp"

#include <boost/property_tree/json_parser.hpp>
#include <sstream>

namespace reachprobe::kube {

namespace pt = boost::property_tree;

namespace {

bool blank(std::string_view text) {
  return text.find_first_not_of(" \t\r\n") == std::string_view::npos;
}

// The nesting depth of `text`, outside strings, or -1 once it passes `limit`.
int nesting_depth(std::string_view text, int limit) {
  int depth = 0;
  int deepest = 0;
  bool in_string = false;
  bool escaped = false;
  for (char c : text) {
    if (in_string) {
      if (escaped) {
        escaped = false;
      } else if (c == '\\') {
        escaped = true;
      } else if (c == '"') {
        in_string = false;
      }
      continue;
    }
    if (c == '"') {
      in_string = true;
    } else if (c == '{' || c == '[') {
      if (++depth > limit) return -1;
      deepest = std::max(deepest, depth);
    } else if (c == '}' || c == ']') {
      --depth;
    }
  }
  return deepest;
}

}  // namespace

std::optional<pt::ptree> parse_json(std::string_view text, std::string& error) {
  if (text.size() > kMaxObjectBytes) {
    error = "an object of " + std::to_string(text.size()) + " bytes (the limit is 16 MiB)";
    return std::nullopt;
  }
  if (nesting_depth(text, kMaxJsonDepth) < 0) {
    error = "JSON nested deeper than " + std::to_string(kMaxJsonDepth) + " levels";
    return std::nullopt;
  }
  try {
    pt::ptree tree;
    std::istringstream in{std::string(text)};
    pt::read_json(in, tree);
    return tree;
  } catch (const pt::json_parser_error& e) {
    error = "invalid JSON: " + e.message() + " at line " + std::to_string(e.line());
  } catch (const std::exception& e) {
    error = std::string("invalid JSON: ") + e.what();
  }
  return std::nullopt;
}

WatchEventParser::Status WatchEventParser::fail(Status status, std::string error) {
  status_ = status;
  error_ = std::move(error);
  pending_.clear();
  pending_.shrink_to_fit();
  return status_;
}

bool WatchEventParser::mid_event() const { return status_ == Status::Ok && !blank(pending_); }

WatchEventParser::Status WatchEventParser::feed(std::string_view bytes,
                                                std::vector<WatchEvent>& out) {
  if (status_ != Status::Ok) return status_;
  while (!bytes.empty()) {
    const auto newline = bytes.find('\n');
    const auto piece = bytes.substr(0, newline);
    if (pending_.size() + piece.size() > max_event_bytes_) {
      return fail(Status::TooLarge, "a watch event over " + std::to_string(max_event_bytes_ >> 20) +
                                        " MiB (the limit)");
    }
    if (newline == std::string_view::npos) {
      pending_.append(piece);
      break;
    }
    bytes.remove_prefix(newline + 1);
    if (pending_.empty()) {
      if (parse_line(piece, out) != Status::Ok) return status_;
    } else {
      pending_.append(piece);
      const std::string line = std::move(pending_);
      pending_.clear();
      if (parse_line(line, out) != Status::Ok) return status_;
    }
  }
  return status_;
}

WatchEventParser::Status WatchEventParser::parse_line(std::string_view line,
                                                      std::vector<WatchEvent>& out) {
  if (blank(line)) return status_;
  std::string error;
  auto tree = parse_json(line, error);
  if (!tree) return fail(Status::Malformed, "watch event: " + error);
  auto type = tree->get_child_optional("type");
  auto object = tree->get_child_optional("object");
  if (!type || !type->empty() || !object) {
    return fail(Status::Malformed, "watch event without 'type' and 'object'");
  }
  WatchEvent event;
  const std::string& name = type->data();
  if (name == "ADDED") {
    event.type = EventType::Added;
  } else if (name == "MODIFIED") {
    event.type = EventType::Modified;
  } else if (name == "DELETED") {
    event.type = EventType::Deleted;
  } else if (name == "BOOKMARK") {
    event.type = EventType::Bookmark;
  } else if (name == "ERROR") {
    event.type = EventType::Error;
  } else {
    return fail(Status::Malformed, "watch event of unknown type '" + name.substr(0, 32) + "'");
  }
  event.object = std::move(*object);
  out.push_back(std::move(event));
  return status_;
}

}  // namespace reachprobe::kube
