#include "probe/config/config.hpp"

#include <arpa/inet.h>
#include <yaml-cpp/eventhandler.h>
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <memory>
#include <span>
#include <sstream>
#include <tuple>

#include "probe/config/config_file.hpp"
#include "probe/config/duration.hpp"
#include "probe/config/env_expand.hpp"
#include "probe/config/inbound_discover.hpp"
#include "probe/core/series_labels.hpp"
#include "probe/config/kubeconfig.hpp"
#include "probe/config/private_endpoints.hpp"
#include "probe/core/url.hpp"

namespace reachprobe::config {

std::string ConfigError::to_string() const {
  return path + ":" + std::to_string(line) + ":" + std::to_string(column) + ": " + message;
}

EnvLookup system_env() {
  return [](std::string_view name) -> std::optional<std::string> {
    const char* value = std::getenv(std::string(name).c_str());
    if (value == nullptr) return std::nullopt;
    return std::string(value);
  };
}

namespace {

// ---------------------------------------------------------------------------------------
// Checks of single values, independent of YAML.

std::string quote(std::string_view text) { return "'" + std::string(text) + "'"; }

bool is_ascii_alpha(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }
bool is_ascii_digit(char c) { return c >= '0' && c <= '9'; }
bool is_ascii_alnum(char c) { return is_ascii_alpha(c) || is_ascii_digit(c); }

std::string to_upper(std::string_view text) {
  std::string upper(text);
  for (char& c : upper) {
    if (c >= 'a' && c <= 'z') c = static_cast<char>(c - 'a' + 'A');
  }
  return upper;
}

std::string to_lower(std::string_view text) {
  std::string lower(text);
  for (char& c : lower) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  return lower;
}

std::optional<std::uint64_t> parse_unsigned(std::string_view text) {
  if (text.empty() || text.size() > 18) return std::nullopt;
  std::uint64_t value = 0;
  for (char c : text) {
    if (!is_ascii_digit(c)) return std::nullopt;
    value = value * 10 + static_cast<std::uint64_t>(c - '0');
  }
  return value;
}

std::optional<std::uint16_t> parse_port(std::string_view text) {
  auto value = parse_unsigned(text);
  if (!value || *value < 1 || *value > 65535) return std::nullopt;
  return static_cast<std::uint16_t>(*value);
}

bool is_ipv4(const std::string& text) {
  in_addr address{};
  return inet_pton(AF_INET, text.c_str(), &address) == 1;
}

bool is_ipv6(const std::string& text) {
  in6_addr address{};
  return inet_pton(AF_INET6, text.c_str(), &address) == 1;
}

bool is_ip_literal(const std::string& text) { return is_ipv4(text) || is_ipv6(text); }

// A Kubernetes namespace or Service name: an RFC 1123 label in lowercase.
bool is_dns_label(std::string_view name) {
  if (name.empty() || name.size() > 63 || name.front() == '-' || name.back() == '-') return false;
  return std::all_of(name.begin(), name.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || is_ascii_digit(c) || c == '-';
  });
}

// A Kubernetes port name (IANA_SVC_NAME): lowercase letters, digits and '-', at least one
// letter, at most 15 characters, no '--'.
bool is_port_name(std::string_view name) {
  if (!is_dns_label(name) || name.size() > 15 || name.find("--") != std::string_view::npos) {
    return false;
  }
  return std::any_of(name.begin(), name.end(), [](char c) { return c >= 'a' && c <= 'z'; });
}

// RFC 1123 host names, plus '_' which service names (SRV, Kubernetes) use.
bool is_dns_name(std::string_view name) {
  if (name.ends_with('.')) name.remove_suffix(1);
  if (name.empty() || name.size() > 253) return false;
  std::string_view last_label;
  while (true) {
    const std::size_t dot = name.find('.');
    const std::string_view label = name.substr(0, dot);
    if (label.empty() || label.size() > 63) return false;
    if (label.front() == '-' || label.back() == '-') return false;
    for (char c : label) {
      if (!is_ascii_alnum(c) && c != '-' && c != '_') return false;
    }
    last_label = label;
    if (dot == std::string_view::npos) break;
    name.remove_prefix(dot + 1);
  }
  // No top-level domain is numeric: "10.0.0.300" is a broken IP address, not a name.
  return !std::all_of(last_label.begin(), last_label.end(), is_ascii_digit);
}

std::optional<std::string> host_problem(const std::string& host) {
  if (host.size() > 2 && host.front() == '[' && host.back() == ']' &&
      is_ipv6(host.substr(1, host.size() - 2))) {
    return "write the IPv6 address " + host.substr(1, host.size() - 2) + " without brackets";
  }
  if (is_ip_literal(host) || is_dns_name(host)) return std::nullopt;
  return quote(host) + " is neither an IP address nor a valid host name";
}

// "IP", "IP:PORT", "[IPv6]" or "[IPv6]:PORT"; a bare IPv6 address has no port.
std::optional<std::string> dns_server_problem(const std::string& server) {
  const std::string problem = "DNS server " + quote(server) + " must be IP, IP:PORT or [IPv6]:PORT";
  if (server.starts_with('[')) {
    const std::size_t close = server.find(']');
    if (close == std::string::npos || !is_ipv6(server.substr(1, close - 1))) return problem;
    const std::string_view rest = std::string_view(server).substr(close + 1);
    if (rest.empty()) return std::nullopt;
    if (!rest.starts_with(':') || !parse_port(rest.substr(1))) return problem;
    return std::nullopt;
  }
  if (std::count(server.begin(), server.end(), ':') > 1) {
    return is_ipv6(server) ? std::nullopt : std::optional(problem);
  }
  const std::size_t colon = server.find(':');
  if (!is_ipv4(server.substr(0, colon))) return problem;
  if (colon != std::string::npos && !parse_port(std::string_view(server).substr(colon + 1))) {
    return problem;
  }
  return std::nullopt;
}

// http(s)://HOST[:PORT][/path...] with a valid host; `https` tells which scheme it was.
std::optional<std::string> url_problem(const std::string& text, bool& https) {
  auto parsed = parse_url(text);
  if (const auto* problem = std::get_if<std::string>(&parsed)) return *problem;
  const Url& url = std::get<Url>(parsed);
  https = url.https;
  if (url.host.find(':') != std::string::npos) {
    if (!is_ipv6(url.host)) return "URL " + quote(text) + " has an invalid IPv6 address";
  } else if (!is_ip_literal(url.host) && !is_dns_name(url.host)) {
    return "URL " + quote(text) + " has an invalid host " + quote(url.host);
  }
  return std::nullopt;
}

bool is_header_name(std::string_view name) {
  if (name.empty()) return false;
  constexpr std::string_view kTokenSymbols = "!#$%&'*+-.^_`|~";
  return std::all_of(name.begin(), name.end(), [&](char c) {
    return is_ascii_alnum(c) || kTokenSymbols.find(c) != std::string_view::npos;
  });
}

bool is_label_name(std::string_view name) {
  if (name.empty() || !(is_ascii_alpha(name.front()) || name.front() == '_')) return false;
  return std::all_of(name.begin(), name.end(),
                     [](char c) { return is_ascii_alnum(c) || c == '_'; });
}

bool is_target_name(std::string_view name) {
  return !name.empty() && std::all_of(name.begin(), name.end(), [](char c) {
    return is_ascii_alnum(c) || c == '_' || c == '-';
  });
}

std::size_t edit_distance(std::string_view a, std::string_view b) {
  std::vector<std::size_t> row(b.size() + 1);
  for (std::size_t j = 0; j <= b.size(); ++j) row[j] = j;
  for (std::size_t i = 1; i <= a.size(); ++i) {
    std::size_t diagonal = row[0];
    row[0] = i;
    for (std::size_t j = 1; j <= b.size(); ++j) {
      const std::size_t above = row[j];
      row[j] = std::min({row[j] + 1, row[j - 1] + 1, diagonal + (a[i - 1] == b[j - 1] ? 0 : 1)});
      diagonal = above;
    }
  }
  return row[b.size()];
}

// " (did you mean 'interval'?)" for a close known word, else "".
std::string suggestion(std::string_view word, std::span<const std::string_view> known) {
  std::string_view best;
  std::size_t best_distance = 3;
  for (std::string_view candidate : known) {
    const std::size_t distance = edit_distance(word, candidate);
    if (distance < best_distance && distance < candidate.size()) {
      best = candidate;
      best_distance = distance;
    }
  }
  return best.empty() ? "" : " (did you mean " + quote(best) + "?)";
}

std::string join(std::span<const std::string_view> words) {
  std::string text;
  for (std::string_view word : words) {
    if (!text.empty()) text += ", ";
    text += word;
  }
  return text;
}

constexpr std::string_view kTypeNames[] = {"tcp", "dns", "tls", "http", "inbound", "kubelet"};
constexpr ProbeType kTypes[] = {ProbeType::Tcp,  ProbeType::Dns,     ProbeType::Tls,
                                ProbeType::Http, ProbeType::Inbound, ProbeType::Kubelet};
constexpr std::string_view kRecordTypes[] = {"A",  "AAAA", "CNAME", "SRV", "TXT",
                                             "NS", "PTR",  "MX",    "SOA", "CAA"};

constexpr std::string_view kTopLevelKeys[] = {
    "interval", "timeout", "listen", "dns", "targets", "kubernetes", "max_concurrent_probes",
    "aws",      "vantage"};
constexpr std::string_view kVantages[] = {"node", "pod"};
constexpr std::string_view kExpectations[] = {"open", "closed"};
constexpr std::string_view kAwsKeys[] = {"imds", "private_endpoints"};
constexpr std::string_view kDnsKeys[] = {"servers"};
constexpr std::string_view kKubernetesKeys[] = {"api_server", "token_file", "ca_file",
                                                "namespace",  "pod_name",   "pod_ip"};
constexpr std::string_view kTlsKeys[] = {"server_name", "ca_file", "insecure_skip_verify"};
constexpr std::string_view kExpectKeys[] = {"min_answers", "contains"};
constexpr std::string_view kDiscoverKeys[] = {"service", "addresses", "port", "include_not_ready"};
constexpr std::string_view kDiscoverAddresses[] = {"endpoints", "cluster_ip"};
constexpr std::string_view kTargetKeys[] = {
    // every type
    "name", "type", "labels", "interval", "timeout", "hint", "expect",
    // tcp, tls, inbound
    "hosts", "ports",
    // tcp
    "kubeconfig_server",
    // tcp, tls, dns (a map); inbound (webhooks)
    "discover", "exclude_self",
    // dns
    "query", "record", "server", "connect_port", "max_connect", "parallel_aaaa",
    // tls, http
    "tls",
    // http
    "url", "method", "headers", "expect_status", "bearer_token_file", "follow_redirects"};

std::vector<std::string_view> target_keys_of(ProbeType type) {
  std::vector<std::string_view> keys = {"name",    "type", "labels", "interval",
                                        "timeout", "hint", "expect"};
  switch (type) {
    case ProbeType::Tcp:
      keys.insert(keys.end(), {"hosts", "ports", "discover", "exclude_self", "max_connect",
                               "kubeconfig_server"});
      break;
    case ProbeType::Tls:
      keys.insert(keys.end(), {"hosts", "ports", "tls", "discover", "exclude_self", "max_connect"});
      break;
    case ProbeType::Dns:
      keys.insert(keys.end(), {"query", "record", "server", "connect_port", "max_connect",
                               "parallel_aaaa", "discover", "exclude_self"});
      break;
    case ProbeType::Http:
      keys.insert(keys.end(), {"url", "method", "headers", "expect_status", "bearer_token_file",
                               "follow_redirects", "tls"});
      break;
    case ProbeType::Inbound:
      keys.insert(keys.end(), {"ports", "discover"});
      break;
    case ProbeType::Kubelet:
      break;
  }
  return keys;
}

// ---------------------------------------------------------------------------------------
// The loader: walks the YAML tree once, records every problem, never stops at the first.

struct Position {
  int line = 0;  // 1-based; 0 when unknown
  int column = 0;
};

// One `key: value` of a YAML map.
struct Entry {
  std::string key;
  YAML::Node key_node;
  YAML::Node value;
};

using Fields = std::vector<Entry>;

const Entry* find(const Fields& fields, std::string_view key) {
  for (const Entry& entry : fields) {
    if (entry.key == key) return &entry;
  }
  return nullptr;
}

std::string describe_kind(const YAML::Node& node) {
  switch (node.Type()) {
    case YAML::NodeType::Map:
      return "a map";
    case YAML::NodeType::Sequence:
      return "a list";
    case YAML::NodeType::Scalar:
      return "a single value";
    default:
      return "empty";
  }
}

// Sees only where documents start: enough to count them.
class DocumentCounter final : public YAML::EventHandler {
 public:
  void OnDocumentStart(const YAML::Mark& mark) override { starts.push_back(mark); }
  void OnDocumentEnd() override {}
  void OnNull(const YAML::Mark&, YAML::anchor_t) override {}
  void OnAlias(const YAML::Mark&, YAML::anchor_t) override {}
  void OnScalar(const YAML::Mark&, const std::string&, YAML::anchor_t,
                const std::string&) override {}
  void OnSequenceStart(const YAML::Mark&, const std::string&, YAML::anchor_t,
                       YAML::EmitterStyle::value) override {}
  void OnSequenceEnd() override {}
  void OnMapStart(const YAML::Mark&, const std::string&, YAML::anchor_t,
                  YAML::EmitterStyle::value) override {}
  void OnMapEnd() override {}
  std::vector<YAML::Mark> starts;
};

class Loader {
 public:
  Loader(std::string path, std::string_view source, const EnvLookup& env)
      : path_(std::move(path)), source_(source), env_(env) {}

  // Line `index` (0-based) of the source, without its newline; empty past the end.
  std::string_view line_text(int index) const {
    std::size_t start = 0;
    for (int i = 0; i < index; ++i) {
      start = source_.find('\n', start);
      if (start == std::string_view::npos) return {};
      ++start;
    }
    return source_.substr(start, source_.find('\n', start) - start);
  }

  LoadResult load() {
    std::vector<YAML::Node> documents;
    try {
      // Not YAML::LoadAll: yaml-cpp 0.7 loops forever on some inputs (",x: 1", found by
      // fuzzing) that yield empty documents without consuming text. Counting documents
      // ourselves stops at the second one, or at a document that does not move forward.
      if (auto problem = count_documents()) {
        fail(problem->first, problem->second);
        return finish(std::nullopt);
      }
      documents.push_back(YAML::Load(std::string(source_)));
    } catch (const YAML::Exception& e) {
      std::string message = "YAML syntax error: " + e.msg;
      // Variables expand after parsing, so in [ ] or { } the "{" of "${" is YAML syntax.
      if (e.mark.line >= 0 && line_text(e.mark.line).find("${") != std::string_view::npos) {
        message += " (inside [ ] or { }, quote a value with a variable: \"${VAR}\")";
      }
      fail(mark_position(e.mark), message);
      return finish(std::nullopt);
    }
    if (documents.empty() || documents.front().IsNull()) {
      fail({1, 1}, "the config is empty; it needs at least 'targets'");
      return finish(std::nullopt);
    }
    Config config = parse_root(documents.front());
    return finish(std::move(config));
  }

 private:
  // A second document, or one that starts where the previous did (yaml-cpp stuck), as an
  // error at its position.
  std::optional<std::pair<Position, std::string>> count_documents() {
    std::istringstream in{std::string(source_)};
    YAML::Parser parser(in);
    DocumentCounter counter;
    for (int i = 0; i < 2 && parser.HandleNextDocument(counter); ++i) {
    }
    if (counter.starts.size() < 2) return std::nullopt;
    const auto& first = counter.starts[0];
    const auto& second = counter.starts[1];
    if (second.pos <= first.pos) {
      return std::pair{mark_position(second),
                       std::string("YAML syntax error: text that starts no document")};
    }
    return std::pair{mark_position(second),
                     std::string("only one YAML document is allowed in a config")};
  }

  LoadResult finish(std::optional<Config> config) {
    std::stable_sort(errors_.begin(), errors_.end(), [](const auto& a, const auto& b) {
      return std::tie(a.line, a.column) < std::tie(b.line, b.column);
    });
    LoadResult result;
    if (errors_.empty()) result.config = std::move(config);
    result.errors = std::move(errors_);
    return result;
  }

  void fail(Position where, std::string message) {
    errors_.push_back({path_, where.line, where.column, std::move(message)});
  }

  static Position mark_position(const YAML::Mark& mark) {
    if (mark.is_null()) return {};
    return {mark.line + 1, mark.column + 1};
  }

  // yaml-cpp marks an implicit null (`- ` with nothing after it) at the next token, often on
  // a later line; the indicator that introduced it ('-' or ':') is where the user looks.
  Position at(const YAML::Node& node) const {
    const YAML::Mark mark = node.Mark();
    if (!node.IsNull() || mark.is_null()) return mark_position(mark);
    const std::size_t pos = std::min(static_cast<std::size_t>(mark.pos), source_.size());
    const std::string_view from_mark = source_.substr(pos);
    for (std::string_view explicit_null : {"~", "null", "Null", "NULL"}) {
      if (from_mark.starts_with(explicit_null)) return mark_position(mark);
    }
    std::size_t line_end = pos;
    while (line_end > 0) {
      const std::size_t line_start = source_.rfind('\n', line_end - 1);
      const std::size_t begin = line_start == std::string_view::npos ? 0 : line_start + 1;
      std::string_view line = source_.substr(begin, line_end - begin);
      for (std::size_t hash = line.find('#'); hash != std::string_view::npos;
           hash = line.find('#', hash + 1)) {
        if (hash == 0 || line[hash - 1] == ' ' || line[hash - 1] == '\t') {
          line = line.substr(0, hash);
          break;
        }
      }
      const std::size_t last = line.find_last_not_of(" \t\r\n");
      if (last != std::string_view::npos) {
        const std::size_t offset = begin + last;
        const auto line_number = std::count(source_.begin(), source_.begin() + offset, '\n');
        return {static_cast<int>(line_number) + 1, static_cast<int>(offset - begin) + 1};
      }
      if (begin == 0) break;
      line_end = begin - 1;
    }
    return mark_position(mark);
  }

  // Where a problem with an entry's value is shown: the value, or the key if it has none.
  Position at(const Entry& entry) const {
    return entry.value.IsNull() ? at(entry.key_node) : at(entry.value);
  }

  // The entries of a map with plain keys; duplicate keys are reported and dropped.
  Fields read_fields(const YAML::Node& map) {
    Fields fields;
    for (auto it = map.begin(); it != map.end(); ++it) {
      const YAML::Node key = it->first;
      if (!key.IsScalar()) {
        fail(at(key), "a key must be a plain word, not " + describe_kind(key));
        continue;
      }
      if (const Entry* first = find(fields, key.Scalar())) {
        fail(at(key), "duplicate key " + quote(key.Scalar()) + " (first at line " +
                          std::to_string(at(first->key_node).line) + ")");
        continue;
      }
      fields.push_back({key.Scalar(), key, it->second});
    }
    return fields;
  }

  void reject_unknown_keys(const Fields& fields, std::span<const std::string_view> known,
                           std::string_view where) {
    for (const Entry& entry : fields) {
      if (std::find(known.begin(), known.end(), entry.key) != known.end()) continue;
      if (entry.key == "<<") {
        fail(at(entry.key_node), "YAML merge keys ('<<') are not supported");
        continue;
      }
      fail(at(entry.key_node), "unknown key " + quote(entry.key) + " in " + std::string(where) +
                                   suggestion(entry.key, known));
    }
  }

  bool expect_map(const Entry& entry) {
    if (entry.value.IsMap()) return true;
    fail(at(entry), quote(entry.key) + " must be a map, not " + describe_kind(entry.value));
    return false;
  }

  bool expect_list(const Entry& entry) {
    if (entry.value.IsSequence()) return true;
    std::string message = quote(entry.key) + " must be a list, not " + describe_kind(entry.value);
    if (entry.value.IsScalar()) message += " (write [" + entry.value.Scalar() + "])";
    fail(at(entry), std::move(message));
    return false;
  }

  // The env-expanded text of a single value. `what` names it in messages; a missing value
  // is reported at `if_empty` because yaml-cpp has no good position for it.
  std::optional<std::string> text(const YAML::Node& node, std::string_view what,
                                  Position if_empty) {
    if (node.IsNull()) {
      fail(if_empty, std::string(what) + " has no value");
      return std::nullopt;
    }
    if (!node.IsScalar()) {
      fail(at(node), std::string(what) + " must be a single value, not " + describe_kind(node));
      return std::nullopt;
    }
    ExpandResult expanded = expand_env(node.Scalar(), env_);
    if (!expanded.error.empty()) {
      fail(at(node), std::string(what) + ": " + expanded.error);
      return std::nullopt;
    }
    return std::move(expanded.value);
  }

  std::optional<std::string> text(const Entry& entry) {
    return text(entry.value, quote(entry.key), at(entry.key_node));
  }

  std::optional<std::string> text_item(const YAML::Node& item, const Entry& list) {
    return text(item, "an item of " + quote(list.key), at(item));
  }

  std::optional<std::chrono::nanoseconds> positive_duration(const Entry& entry) {
    auto value = text(entry);
    if (!value) return std::nullopt;
    const bool bare_number =
        !value->empty() && std::all_of(value->begin(), value->end(),
                                       [](char c) { return is_ascii_digit(c) || c == '.'; });
    if (bare_number) {
      fail(at(entry), quote(entry.key) + " " + *value + " has no unit; add one, e.g. " + *value +
                          "s or " + *value + "ms");
      return std::nullopt;
    }
    auto duration = parse_duration(*value);
    if (!duration) {
      fail(at(entry), quote(entry.key) + " " + quote(*value) +
                          " is not a duration; write e.g. 500ms, 10s, 1m30s or 1h");
      return std::nullopt;
    }
    if (duration->count() == 0) {
      fail(at(entry), quote(entry.key) + " must be greater than 0");
      return std::nullopt;
    }
    return duration;
  }

  std::optional<std::uint64_t> integer(const YAML::Node& node, std::string_view what,
                                       Position if_empty, std::uint64_t min, std::uint64_t max) {
    auto value = text(node, what, if_empty);
    if (!value) return std::nullopt;
    auto number = parse_unsigned(*value);
    if (!number || *number < min || *number > max) {
      fail(at(node), std::string(what) + " must be an integer from " + std::to_string(min) +
                         " to " + std::to_string(max) + ", not " + quote(*value));
      return std::nullopt;
    }
    return number;
  }

  std::optional<std::uint64_t> integer(const Entry& entry, std::uint64_t min, std::uint64_t max) {
    return integer(entry.value, quote(entry.key), at(entry.key_node), min, max);
  }

  std::optional<bool> boolean(const Entry& entry) {
    auto value = text(entry);
    if (!value) return std::nullopt;
    const std::string lower = to_lower(*value);
    if (lower == "true") return true;
    if (lower == "false") return false;
    fail(at(entry), quote(entry.key) + " must be true or false, not " + quote(*value));
    return std::nullopt;
  }

  std::optional<std::string> non_empty_text(const Entry& entry) {
    auto value = text(entry);
    if (value && value->empty()) {
      fail(at(entry), quote(entry.key) + " must not be empty");
      return std::nullopt;
    }
    return value;
  }

  // A map of names to texts (labels, headers); `name_problem` says what is wrong with a name.
  std::vector<std::pair<std::string, std::string>> string_map(
      const Entry& entry,
      const std::function<std::optional<std::string>(const std::string&)>& name_problem) {
    std::vector<std::pair<std::string, std::string>> pairs;
    if (!expect_map(entry)) return pairs;
    for (const Entry& item : read_fields(entry.value)) {
      if (auto problem = name_problem(item.key)) {
        fail(at(item.key_node), *problem);
        continue;
      }
      if (auto value = text(item)) pairs.emplace_back(item.key, std::move(*value));
    }
    return pairs;
  }

  // ------------------------------------------------------------------------------------

  Config parse_root(const YAML::Node& root) {
    Config config;
    if (!root.IsMap()) {
      fail(at(root), "the config must be a map with keys such as 'interval' and 'targets', not " +
                         describe_kind(root));
      return config;
    }
    const Fields fields = read_fields(root);
    reject_unknown_keys(fields, kTopLevelKeys, "the config");

    const Entry* interval = find(fields, "interval");
    const Entry* timeout = find(fields, "timeout");
    bool globals_valid = true;
    if (interval) {
      auto value = positive_duration(*interval);
      if (value) config.interval = *value;
      globals_valid = globals_valid && value;
    }
    if (timeout) {
      auto value = positive_duration(*timeout);
      if (value) config.timeout = *value;
      globals_valid = globals_valid && value;
    }
    if (globals_valid && config.timeout >= config.interval) {
      fail(timeout ? at(*timeout) : at(*interval), "timeout " + format_duration(config.timeout) +
                                                       " must be less than the interval " +
                                                       format_duration(config.interval));
    }
    if (const Entry* listen = find(fields, "listen")) {
      if (auto value = text(*listen)) {
        if (auto problem = listen_address_problem(*value)) {
          fail(at(*listen), "'listen': " + *problem);
        } else {
          config.listen = *value;
        }
      }
    }
    if (const Entry* limit = find(fields, "max_concurrent_probes")) {
      if (auto value = integer(*limit, 1, 1000000)) {
        config.max_concurrent_probes = static_cast<std::size_t>(*value);
      }
    }
    if (const Entry* dns = find(fields, "dns")) parse_dns(*dns, config.dns);
    if (const Entry* vantage = find(fields, "vantage")) {
      if (auto value = text(*vantage)) {
        if (*value == "pod") {
          config.vantage = Vantage::Pod;
        } else if (*value != "node") {
          fail(at(*vantage), "'vantage' must be node or pod, not " + quote(*value) +
                                 suggestion(*value, kVantages));
        }
      }
    }
    const Entry* kubernetes = find(fields, "kubernetes");
    if (kubernetes) parse_kubernetes(*kubernetes, config.kubernetes);
    apply_kubernetes_defaults(config.kubernetes);
    if (const Entry* aws = find(fields, "aws")) parse_aws(*aws, config.aws);

    const Entry* targets = find(fields, "targets");
    // Which line each name was first used on, for duplicate errors.
    std::map<std::string, int> name_lines;
    if (!targets) {
      fail(at(root), "the config has no 'targets'");
    } else if (expect_list(*targets)) {
      if (targets->value.size() == 0) fail(at(*targets), "'targets' must not be empty");
      for (const YAML::Node& node : targets->value) {
        if (auto target = parse_target(node, config, name_lines)) {
          target->vantage = config.vantage;
          config.targets.push_back(std::move(*target));
        }
      }
    }
    add_private_endpoint_targets(config, name_lines);
    check_kubernetes_needs(config);
    // The API server dials the pod IP: it is the address of these endpoints.
    for (auto& t : config.targets) {
      if ((t.type == ProbeType::Inbound || t.type == ProbeType::Kubelet) &&
          !config.kubernetes.pod_ip.empty()) {
        t.hosts = {config.kubernetes.pod_ip};
      }
    }
    return config;
  }

  void parse_dns(const Entry& entry, DnsSettings& dns) {
    if (!expect_map(entry)) return;
    const Fields fields = read_fields(entry.value);
    reject_unknown_keys(fields, kDnsKeys, "'dns'");
    if (const Entry* servers = find(fields, "servers"); servers && expect_list(*servers)) {
      for (const YAML::Node& item : servers->value) {
        auto server = text_item(item, *servers);
        if (!server) continue;
        if (auto problem = dns_server_problem(*server)) {
          fail(at(item), *problem);
          continue;
        }
        dns.servers.push_back(std::move(*server));
      }
    }
  }

  void parse_aws(const Entry& entry, AwsSettings& aws) {
    if (!expect_map(entry)) return;
    const Fields fields = read_fields(entry.value);
    reject_unknown_keys(fields, kAwsKeys, "'aws'");
    if (const Entry* imds = find(fields, "imds")) {
      if (auto value = boolean(*imds)) aws.imds = *value;
    }
    if (const Entry* entry = find(fields, "private_endpoints")) parse_private_endpoints(*entry);
  }

  // private_endpoints: true | false | [SERVICE, ...] (true: every one of
  // kPrivateEndpointServices).
  void parse_private_endpoints(const Entry& entry) {
    private_endpoints_position_ = at(entry.key_node);
    if (entry.value.IsSequence()) {
      for (const YAML::Node& item : entry.value) {
        auto service = text_item(item, entry);
        if (!service) continue;
        if (!is_private_endpoint_service(*service)) {
          fail(at(item), "unknown service " + quote(*service) + " in 'private_endpoints' (one of " +
                             join(kPrivateEndpointServices) + ")" +
                             suggestion(*service, kPrivateEndpointServices));
        } else if (std::find(private_endpoints_.begin(), private_endpoints_.end(), *service) !=
                   private_endpoints_.end()) {
          fail(at(item), "duplicate service " + quote(*service));
        } else {
          private_endpoints_.push_back(std::move(*service));
        }
      }
      if (entry.value.size() == 0) fail(at(entry), "'private_endpoints' must not be empty");
      return;
    }
    auto value = text(entry);
    if (!value) return;
    const std::string lower = to_lower(*value);
    if (lower == "true") {
      private_endpoints_.assign(std::begin(kPrivateEndpointServices),
                                std::end(kPrivateEndpointServices));
    } else if (lower != "false") {
      fail(at(entry), "'private_endpoints' must be true, false or a list of services (" +
                          join(kPrivateEndpointServices) + "), not " + quote(*value));
    }
  }

  void add_private_endpoint_targets(Config& config, std::map<std::string, int>& name_lines) {
    if (private_endpoints_.empty()) return;
    const Position where = private_endpoints_position_;
    Target defaults;
    defaults.interval = config.interval;
    defaults.timeout = config.timeout;
    defaults.position = {path_, where.line, where.column};
    // A failed ${AWS_REGION} lookup is no error here: the message below says what to set.
    const std::string region = env_("AWS_REGION").value_or("");
    const std::string account = env_("AWS_ACCOUNT_ID").value_or("");
    auto made = private_endpoint_targets(private_endpoints_, region, account, defaults);
    if (auto* problem = std::get_if<std::string>(&made)) {
      fail(where, *problem);
      return;
    }
    for (auto& t : std::get<std::vector<Target>>(made)) {
      if (auto [first, inserted] = name_lines.emplace(t.name, where.line); !inserted) {
        fail(where, "'private_endpoints' adds target " + quote(t.name) +
                        ", and a target of that name is at line " + std::to_string(first->second));
        continue;
      }
      config.targets.push_back(std::move(t));
    }
  }

  // kubeconfig_server: PATH | [PATH, ...]: the host and port of the API server named in the
  // first of these kubeconfig files that exists (the node's kubelet kubeconfig).
  void parse_kubeconfig_server(const Entry& entry, Target& target) {
    std::vector<std::string> paths;
    if (entry.value.IsSequence()) {
      if (entry.value.size() == 0) fail(at(entry), "'kubeconfig_server' must not be empty");
      for (const YAML::Node& item : entry.value) {
        if (auto path = text_item(item, entry)) paths.push_back(std::move(*path));
      }
    } else if (auto path = non_empty_text(entry)) {
      paths.push_back(std::move(*path));
    }
    if (paths.empty()) return;
    auto server = read_kubeconfig_server(paths);
    if (auto* problem = std::get_if<std::string>(&server)) {
      fail(at(entry), "'kubeconfig_server': " + *problem);
      return;
    }
    auto& found = std::get<KubeconfigServer>(server);
    if (auto problem = host_problem(found.host)) {
      fail(at(entry), "'kubeconfig_server': the server of " + found.path + ": " + *problem);
      return;
    }
    target.hosts = {found.host};
    if (target.ports.empty()) target.ports = {found.port};
    target.cluster_endpoint = true;
    target.kubeconfig = found.path;
  }

  void parse_kubernetes(const Entry& entry, KubernetesSettings& kubernetes) {
    if (!expect_map(entry)) return;
    const Fields fields = read_fields(entry.value);
    reject_unknown_keys(fields, kKubernetesKeys, "'kubernetes'");
    if (const Entry* api_server = find(fields, "api_server")) {
      if (auto value = text(*api_server)) {
        bool https = false;
        if (auto problem = url_problem(*value, https)) {
          fail(at(*api_server), "'api_server': " + *problem);
        } else {
          kubernetes.api_server = *value;
        }
      }
    }
    if (const Entry* token_file = find(fields, "token_file")) {
      if (auto value = non_empty_text(*token_file)) kubernetes.token_file = *value;
    }
    if (const Entry* ca_file = find(fields, "ca_file")) {
      if (auto value = non_empty_text(*ca_file)) kubernetes.ca_file = *value;
    }
    // Empty values are allowed here: they only matter if an inbound/kubelet target exists.
    if (const Entry* namespace_name = find(fields, "namespace")) {
      auto value = text(*namespace_name);
      kubernetes.namespace_name = value.value_or("");
      namespace_source_ = value ? Source::kValid : Source::kInvalid;
      namespace_position_ = at(*namespace_name);
    }
    if (const Entry* pod_ip = find(fields, "pod_ip")) {
      if (auto value = text(*pod_ip)) {
        if (value->empty() || is_ip_literal(*value)) {
          kubernetes.pod_ip = *value;
        } else {
          fail(at(*pod_ip), "'pod_ip' " + quote(*value) + " is not an IP address");
        }
      }
      pod_ip_set_ = true;
    }
    if (const Entry* pod_name = find(fields, "pod_name")) {
      auto value = text(*pod_name);
      kubernetes.pod_name = value.value_or("");
      pod_name_source_ = value ? Source::kValid : Source::kInvalid;
      pod_name_position_ = at(*pod_name);
    }
  }

  void apply_kubernetes_defaults(KubernetesSettings& kubernetes) {
    if (kubernetes.api_server.empty()) {
      auto host = env_("KUBERNETES_SERVICE_HOST");
      auto port = env_("KUBERNETES_SERVICE_PORT");
      if (host && !host->empty()) {
        const std::string bracketed =
            host->find(':') != std::string::npos ? "[" + *host + "]" : *host;
        kubernetes.api_server = "https://" + bracketed;
        if (port && !port->empty()) kubernetes.api_server += ":" + *port;
      } else {
        kubernetes.api_server = "https://kubernetes.default.svc";
      }
    }
    if (namespace_source_ == Source::kDefault) {
      kubernetes.namespace_name = env_("POD_NAMESPACE").value_or("");
    }
    if (!pod_ip_set_) {
      const std::string from_env = env_("POD_IP").value_or("");
      if (is_ip_literal(from_env)) kubernetes.pod_ip = from_env;
    }
    if (pod_name_source_ == Source::kDefault) {
      kubernetes.pod_name = env_("POD_NAME").value_or("");
    }
  }

  // Only the targets probed from the control plane need to know which pod they run in.
  void check_kubernetes_needs(const Config& config) {
    auto needing = std::find_if(config.targets.begin(), config.targets.end(), [](const Target& t) {
      return t.type == ProbeType::Inbound || t.type == ProbeType::Kubelet;
    });
    if (needing == config.targets.end()) return;
    const Position target_position{needing->position.line, needing->position.column};
    const std::string who =
        std::string(reachprobe::to_string(needing->type)) + " target " + quote(needing->name);
    // A value that failed (an unset variable) is already reported at its own position.
    if (config.kubernetes.namespace_name.empty() && namespace_source_ != Source::kInvalid) {
      fail(namespace_position_.value_or(target_position),
           who + " needs kubernetes.namespace: set it or the POD_NAMESPACE environment variable");
    }
    if (config.kubernetes.pod_name.empty() && pod_name_source_ != Source::kInvalid) {
      fail(pod_name_position_.value_or(target_position),
           who + " needs kubernetes.pod_name: set it or the POD_NAME environment variable");
    }
  }

  std::optional<ProbeType> parse_type(const Entry& entry) {
    auto value = text(entry);
    if (!value) return std::nullopt;
    for (std::size_t i = 0; i < std::size(kTypeNames); ++i) {
      if (*value == kTypeNames[i]) return kTypes[i];
    }
    fail(at(entry), "unknown target type " + quote(*value) + " (one of " + join(kTypeNames) + ")" +
                        suggestion(*value, kTypeNames));
    return std::nullopt;
  }

  std::optional<Target> parse_target(const YAML::Node& node, const Config& config,
                                     std::map<std::string, int>& name_lines) {
    if (!node.IsMap()) {
      fail(at(node), "a target must be a map with 'name' and 'type', not " + describe_kind(node));
      return std::nullopt;
    }
    const Position position = at(node);
    Target target;
    target.position = {path_, position.line, position.column};
    const std::size_t errors_before = errors_.size();
    const Fields fields = read_fields(node);

    std::optional<ProbeType> type;
    if (const Entry* entry = find(fields, "type")) {
      type = parse_type(*entry);
    } else {
      fail(position, "target is missing 'type' (one of " + join(kTypeNames) + ")");
    }
    // Without a known type only keys unknown to every type can be reported.
    reject_unknown_keys(fields, kTargetKeys, "a target");
    if (type) {
      const std::vector<std::string_view> allowed = target_keys_of(*type);
      for (const Entry& entry : fields) {
        const bool known = std::find(std::begin(kTargetKeys), std::end(kTargetKeys), entry.key) !=
                           std::end(kTargetKeys);
        if (known && std::find(allowed.begin(), allowed.end(), entry.key) == allowed.end()) {
          fail(at(entry.key_node), "key " + quote(entry.key) + " is not valid for " +
                                       (*type == ProbeType::Inbound ? "an " : "a ") +
                                       std::string(reachprobe::to_string(*type)) + " target");
        }
      }
    }

    if (const Entry* entry = find(fields, "name")) {
      if (auto name = text(*entry)) {
        if (!is_target_name(*name)) {
          fail(at(*entry),
               "target name " + quote(*name) + " may only contain letters, digits, '_' and '-'");
        } else if (auto [first, inserted] = name_lines.emplace(*name, at(*entry).line); !inserted) {
          fail(at(*entry), "duplicate target name " + quote(*name) + " (first at line " +
                               std::to_string(first->second) + ")");
        }
        target.name = *name;
      }
    } else {
      fail(position, "target is missing 'name'");
    }

    if (const Entry* entry = find(fields, "labels")) {
      target.labels = string_map(*entry, [](const std::string& name) -> std::optional<std::string> {
        if (!is_label_name(name)) {
          return "label name " + quote(name) +
                 " must match [a-zA-Z_][a-zA-Z0-9_]* (a Prometheus label name)";
        }
        if (name.starts_with("__")) {
          return "label name " + quote(name) + " must not start with '__' (reserved)";
        }
        if (is_endpoint_series_label(name)) {
          return "label name " + quote(name) + " is reserved by reachprobe";
        }
        if (is_scrape_target_label(name)) {
          return "label name " + quote(name) +
                 " is set by Prometheus or prometheus-operator on every scraped target (the "
                 "series' own would arrive renamed exported_" +
                 name + "); choose another name";
        }
        if (name == kShippedScrapeLabel) {
          return "label name " + quote(name) +
                 " is set by the shipped PodMonitor and scrape config (the pod's node name); "
                 "choose another name";
        }
        return std::nullopt;
      });
      std::sort(target.labels.begin(), target.labels.end());
    }

    const Entry* interval = find(fields, "interval");
    const Entry* timeout = find(fields, "timeout");
    std::optional<std::chrono::nanoseconds> interval_value;
    std::optional<std::chrono::nanoseconds> timeout_value;
    if (interval) interval_value = positive_duration(*interval);
    if (timeout) timeout_value = positive_duration(*timeout);
    target.interval = interval_value.value_or(config.interval);
    target.timeout = timeout_value.value_or(config.timeout);
    const bool overrides_valid = (!interval || interval_value) && (!timeout || timeout_value);
    if ((interval || timeout) && overrides_valid && target.timeout >= target.interval) {
      fail(timeout ? at(*timeout) : at(*interval),
           "timeout " + format_duration(target.timeout) + (timeout ? "" : " (the default)") +
               " must be less than the interval " + format_duration(target.interval) +
               (interval ? "" : " (the default)"));
    }

    if (const Entry* entry = find(fields, "hint")) {
      if (entry->value.IsMap()) {
        // One hint per result: only true for the results it names.
        for (auto& [name, text] :
             string_map(*entry, [](const std::string& name) -> std::optional<std::string> {
               const auto outcome = parse_outcome(name);
               if (outcome && *outcome != Outcome::Ok) return std::nullopt;
               std::vector<std::string_view> failures;
               for (Outcome o : kAllOutcomes) {
                 if (o != Outcome::Ok) failures.push_back(reachprobe::to_string(o));
               }
               return "hint for " + quote(name) + ": not a failing result (one of " +
                      join(failures) + ")" + suggestion(name, failures);
             })) {
          target.result_hints.emplace_back(*parse_outcome(name), std::move(text));
        }
      } else if (auto hint = text(*entry)) {
        target.hint = *hint;
      }
    }
    const Entry* expect = find(fields, "expect");
    // A scalar is what the path must be; a map is a dns target's checks of its answer.
    if (expect && !expect->value.IsMap()) {
      if (auto value = text(*expect)) {
        if (auto expectation = parse_expectation(*value)) {
          target.expectation = *expectation;
        } else {
          fail(at(*expect),
               "'expect' must be closed or open" +
                   std::string(type == ProbeType::Dns ? " (or a map of min_answers, contains)"
                                                      : "") +
                   ", not " + quote(*value) + suggestion(*value, kExpectations));
        }
      }
    } else if (expect && type && *type != ProbeType::Dns) {
      fail(at(*expect), "'expect' of a " + std::string(reachprobe::to_string(*type)) +
                            " target is closed or open, not a map (min_answers and contains "
                            "are for dns targets)");
    }

    if (type) {
      target.type = *type;
      const std::string who = std::string(reachprobe::to_string(*type)) + " target" +
                              (target.name.empty() ? "" : " " + quote(target.name));
      auto require = [&](std::string_view key) {
        const Entry* entry = find(fields, key);
        if (!entry) fail(position, who + " needs " + quote(key));
        return entry;
      };
      switch (*type) {
        case ProbeType::Tcp:
        case ProbeType::Tls:
          if (const Entry* kubeconfig = find(fields, "kubeconfig_server")) {
            for (std::string_view other : {"hosts", "discover"}) {
              if (const Entry* e = find(fields, other)) {
                fail(at(e->key_node), quote(other) +
                                          " and 'kubeconfig_server' exclude each other: the "
                                          "host is the kubeconfig's server");
              }
            }
            if (const Entry* ports = find(fields, "ports")) parse_ports(*ports, target);
            parse_kubeconfig_server(*kubeconfig, target);
          } else if (const Entry* discover = find(fields, "discover")) {
            parse_discover(*discover, target);
            if (const Entry* hosts = find(fields, "hosts")) {
              fail(at(hosts->key_node),
                   "'hosts' and 'discover' exclude each other: the addresses are either listed "
                   "or discovered");
            }
            if (const Entry* ports = find(fields, "ports")) parse_ports(*ports, target);
            if (const Entry* max_connect = find(fields, "max_connect")) {
              if (auto value = integer(*max_connect, 1, 100000)) target.max_connect = *value;
            }
          } else {
            if (const Entry* hosts = require("hosts")) parse_hosts(*hosts, target);
            if (const Entry* ports = require("ports")) parse_ports(*ports, target);
            if (const Entry* max_connect = find(fields, "max_connect")) {
              fail(at(max_connect->key_node),
                   "'max_connect' needs 'discover' (it chooses among discovered addresses)");
            }
          }
          parse_exclude_self(fields, target);
          if (const Entry* tls = find(fields, "tls")) parse_tls(*tls, target);
          break;
        case ProbeType::Dns:
          parse_dns_target(fields, require("query"), target);
          if (const Entry* discover = find(fields, "discover")) {
            parse_discover(*discover, target);
            if (const Entry* server = find(fields, "server")) {
              fail(at(server->key_node),
                   "'server' and 'discover' exclude each other: the discovered addresses are "
                   "the servers");
            }
          }
          parse_exclude_self(fields, target);
          if (target.expectation == Expectation::Closed && !find(fields, "connect_port")) {
            fail(at(*expect),
                 "'expect: closed' on a dns target needs 'connect_port': the addresses it "
                 "connects to are what must stay closed (the name must still resolve)");
          }
          break;
        case ProbeType::Http:
          parse_http_target(fields, require("url"), target);
          break;
        case ProbeType::Inbound:
          if (const Entry* discover = find(fields, "discover")) {
            parse_inbound_discover(*discover, target);
            if (const Entry* ports = find(fields, "ports")) parse_ports(*ports, target);
          } else if (const Entry* ports = require("ports")) {
            parse_ports(*ports, target);
          }
          break;
        case ProbeType::Kubelet:
          break;
      }
    }
    if (errors_.size() != errors_before || !type) return std::nullopt;
    return target;
  }

  // discover: webhooks (probe/config/inbound_discover.hpp). One target at most: the ports
  // are one set, probed once.
  void parse_inbound_discover(const Entry& entry, Target& target) {
    auto value = text(entry);
    if (!value) return;
    if (auto problem = inbound_discover_problem(*value)) {
      fail(at(entry), *problem);
      return;
    }
    if (!webhook_target_.empty()) {
      fail(at(entry), "only one inbound target may discover webhooks (the first is " +
                          quote(webhook_target_) + "): each port is probed once");
      return;
    }
    webhook_target_ = target.name.empty() ? "?" : target.name;
    target.discover_webhooks = true;
  }

  void parse_exclude_self(const Fields& fields, Target& target) {
    const Entry* exclude_self = find(fields, "exclude_self");
    if (!exclude_self) return;
    if (auto value = boolean(*exclude_self)) target.exclude_self = *value;
    if (!find(fields, "discover")) {
      fail(at(exclude_self->key_node),
           "'exclude_self' needs 'discover' (it skips the "
           "discovered endpoint on this node)");
    }
  }

  // discover: {service: NAMESPACE/NAME, addresses: endpoints|cluster_ip, port: NAME|NUMBER,
  // include_not_ready: BOOL}. Checked here only: `validate` never asks the API server.
  void parse_discover(const Entry& entry, Target& target) {
    if (!expect_map(entry)) return;
    const Fields fields = read_fields(entry.value);
    reject_unknown_keys(fields, kDiscoverKeys, "'discover'");
    Discover discover;
    if (const Entry* service = find(fields, "service")) {
      if (auto value = text(*service)) {
        const auto slash = value->find('/');
        const std::string ns = slash == std::string::npos ? "" : value->substr(0, slash);
        const std::string name = slash == std::string::npos ? "" : value->substr(slash + 1);
        if (slash == std::string::npos || !is_dns_label(ns) || !is_dns_label(name)) {
          fail(at(*service), "'service' " + quote(*value) +
                                 " must be NAMESPACE/NAME, each a lowercase DNS label (letters, "
                                 "digits, '-'), e.g. monitoring/alertmanager-operated");
        } else {
          discover.namespace_name = ns;
          discover.service = name;
        }
      }
    } else {
      fail(at(entry.key_node), "'discover' needs 'service' (NAMESPACE/NAME)");
    }
    if (const Entry* addresses = find(fields, "addresses")) {
      if (auto value = text(*addresses)) {
        if (*value == "endpoints") {
          discover.addresses = DiscoverAddresses::Endpoints;
        } else if (*value == "cluster_ip") {
          discover.addresses = DiscoverAddresses::ClusterIp;
        } else {
          fail(at(*addresses), "unknown 'addresses' " + quote(*value) + " (one of " +
                                   join(kDiscoverAddresses) + ")" +
                                   suggestion(*value, kDiscoverAddresses));
        }
      }
    }
    if (const Entry* port = find(fields, "port")) {
      if (auto value = text(*port)) {
        const bool digits =
            !value->empty() && std::all_of(value->begin(), value->end(), is_ascii_digit);
        if (digits) {
          auto number = parse_unsigned(*value);
          if (!number || *number < 1 || *number > 65535) {
            fail(at(*port), "'port' " + quote(*value) +
                                " must be a port number from 1 to 65535 "
                                "or a port name");
          } else {
            discover.port = *value;
          }
        } else if (!is_port_name(*value)) {
          fail(at(*port), "'port' " + quote(*value) +
                              " is not a port name (at most 15 lowercase "
                              "letters, digits and '-') or number");
        } else {
          discover.port = *value;
        }
      }
    }
    if (const Entry* include = find(fields, "include_not_ready")) {
      if (auto value = boolean(*include)) discover.include_not_ready = *value;
    }
    target.discover = std::move(discover);
  }

  void parse_hosts(const Entry& entry, Target& target) {
    if (!expect_list(entry)) return;
    if (entry.value.size() == 0) fail(at(entry), "'hosts' must not be empty");
    for (const YAML::Node& item : entry.value) {
      auto host = text_item(item, entry);
      if (!host) continue;
      if (auto problem = host_problem(*host)) {
        fail(at(item), *problem);
      } else if (std::find(target.hosts.begin(), target.hosts.end(), *host) != target.hosts.end()) {
        fail(at(item), "duplicate host " + quote(*host));
      } else {
        target.hosts.push_back(std::move(*host));
      }
    }
  }

  void parse_ports(const Entry& entry, Target& target) {
    if (!expect_list(entry)) return;
    if (entry.value.size() == 0) fail(at(entry), "'ports' must not be empty");
    for (const YAML::Node& item : entry.value) {
      auto port = integer(item, "a port", at(item), 1, 65535);
      if (!port) continue;
      const auto value = static_cast<std::uint16_t>(*port);
      if (std::find(target.ports.begin(), target.ports.end(), value) != target.ports.end()) {
        fail(at(item), "duplicate port " + std::to_string(value));
        continue;
      }
      target.ports.push_back(value);
      // Each inbound port is a listening socket of this process: targets cannot share one.
      if (target.type == ProbeType::Inbound) {
        auto [owner, inserted] = inbound_port_owners_.emplace(value, target.name);
        if (!inserted) {
          fail(at(item), "port " + std::to_string(value) + " is already used by inbound target " +
                             quote(owner->second));
        }
      }
    }
  }

  void parse_tls(const Entry& entry, Target& target) {
    if (!expect_map(entry)) return;
    TlsOptions tls;
    const Fields fields = read_fields(entry.value);
    reject_unknown_keys(fields, kTlsKeys, "'tls'");
    if (const Entry* server_name = find(fields, "server_name")) {
      if (auto value = non_empty_text(*server_name)) {
        if (is_dns_name(*value) || is_ip_literal(*value)) {
          tls.server_name = *value;
        } else {
          fail(at(*server_name), "'server_name' " + quote(*value) + " is not a valid host name");
        }
      }
    }
    if (const Entry* ca_file = find(fields, "ca_file")) {
      if (auto value = non_empty_text(*ca_file)) tls.ca_file = *value;
    }
    if (const Entry* insecure = find(fields, "insecure_skip_verify")) {
      if (auto value = boolean(*insecure)) tls.insecure_skip_verify = *value;
    }
    target.tls = std::move(tls);
  }

  void parse_dns_target(const Fields& fields, const Entry* query, Target& target) {
    if (const Entry* record = find(fields, "record")) {
      if (auto value = text(*record)) {
        const std::string upper = to_upper(*value);
        if (std::find(std::begin(kRecordTypes), std::end(kRecordTypes), upper) ==
            std::end(kRecordTypes)) {
          fail(at(*record),
               "unknown record type " + quote(*value) + " (one of " + join(kRecordTypes) + ")");
        } else {
          target.record = upper;
        }
      }
    }
    if (query) {
      if (auto value = non_empty_text(*query)) {
        const bool reverse_ip = target.record == "PTR" && is_ip_literal(*value);
        if (!reverse_ip && !is_dns_name(*value)) {
          fail(at(*query), "'query' " + quote(*value) + " is not a valid DNS name");
        } else {
          target.query = *value;
        }
      }
    }
    if (const Entry* server = find(fields, "server")) {
      if (auto value = text(*server)) {
        if (auto problem = dns_server_problem(*value)) {
          fail(at(*server), *problem);
        } else {
          target.server = *value;
        }
      }
    }
    const Entry* connect_port = find(fields, "connect_port");
    if (connect_port) {
      if (auto port = integer(*connect_port, 1, 65535)) {
        target.connect_port = static_cast<std::uint16_t>(*port);
        if (target.record != "A" && target.record != "AAAA") {
          fail(at(*connect_port),
               "'connect_port' needs record A or AAAA (addresses to connect "
               "to), not " +
                   target.record);
        }
      }
    }
    if (const Entry* max_connect = find(fields, "max_connect")) {
      if (auto value = integer(*max_connect, 1, kMaxConnectLimit)) target.max_connect = *value;
      if (!connect_port) fail(at(*max_connect), "'max_connect' needs 'connect_port'");
    }
    if (const Entry* parallel = find(fields, "parallel_aaaa")) {
      if (auto value = boolean(*parallel)) target.parallel_aaaa = *value;
      if (target.parallel_aaaa && target.record != "A") {
        fail(at(*parallel),
             "'parallel_aaaa' needs record A (it sends AAAA beside it), not " + target.record);
      }
    }
    if (const Entry* expect = find(fields, "expect"); expect && expect->value.IsMap()) {
      const Fields expect_fields = read_fields(expect->value);
      reject_unknown_keys(expect_fields, kExpectKeys, "'expect'");
      if (const Entry* min_answers = find(expect_fields, "min_answers")) {
        if (auto value = integer(*min_answers, 1, 1000)) target.expect.min_answers = *value;
      }
      if (const Entry* contains = find(expect_fields, "contains");
          contains && expect_list(*contains)) {
        for (const YAML::Node& item : contains->value) {
          auto value = text_item(item, *contains);
          if (!value) continue;
          if (value->empty()) {
            fail(at(item), "an item of 'contains' must not be empty");
            continue;
          }
          target.expect.contains.push_back(std::move(*value));
        }
      }
    }
  }

  void parse_http_target(const Fields& fields, const Entry* url, Target& target) {
    std::optional<bool> https;
    if (url) {
      if (auto value = text(*url)) {
        bool is_https = false;
        if (auto problem = url_problem(*value, is_https)) {
          fail(at(*url), *problem);
        } else {
          target.url = *value;
          https = is_https;
        }
      }
    }
    if (const Entry* method = find(fields, "method")) {
      if (auto value = text(*method)) {
        const std::string upper = to_upper(*value);
        if (upper != "GET" && upper != "HEAD" && upper != "PUT") {
          fail(at(*method), "'method' must be GET, HEAD or PUT, not " + quote(*value));
        } else {
          target.method = upper;
        }
      }
    }
    if (const Entry* headers = find(fields, "headers")) {
      target.headers =
          string_map(*headers, [](const std::string& name) -> std::optional<std::string> {
            if (is_header_name(name)) return std::nullopt;
            return "header name " + quote(name) + " is not a valid HTTP header name";
          });
      for (const auto& [name, value] : target.headers) {
        if (value.find_first_of("\r\n", 0) != std::string::npos ||
            value.find('\0') != std::string::npos) {
          fail(at(*headers), "header " + quote(name) + " has a line break in its value");
        }
      }
    }
    if (const Entry* statuses = find(fields, "expect_status"); statuses && expect_list(*statuses)) {
      if (statuses->value.size() == 0) {
        fail(at(*statuses), "'expect_status' must not be empty (leave it out for any 2xx)");
      }
      for (const YAML::Node& item : statuses->value) {
        if (auto status = integer(item, "a status in 'expect_status'", at(item), 100, 599)) {
          target.expect_status.push_back(static_cast<int>(*status));
        }
      }
    }
    if (const Entry* token = find(fields, "bearer_token_file")) {
      if (auto value = non_empty_text(*token)) target.bearer_token_file = *value;
    }
    if (const Entry* follow = find(fields, "follow_redirects")) {
      if (auto value = boolean(*follow)) target.follow_redirects = *value;
    }
    if (const Entry* tls = find(fields, "tls")) {
      parse_tls(*tls, target);
      if (https == false) fail(at(tls->key_node), "'tls' needs an https:// URL");
    }
  }

  std::string path_;
  std::string_view source_;
  const EnvLookup& env_;
  std::vector<ConfigError> errors_;
  // Where kubernetes.namespace and .pod_name came from, for the inbound/kubelet check.
  enum class Source { kDefault, kValid, kInvalid };
  Source namespace_source_ = Source::kDefault;
  Source pod_name_source_ = Source::kDefault;
  bool pod_ip_set_ = false;
  std::optional<Position> namespace_position_;
  std::optional<Position> pod_name_position_;
  std::map<std::uint16_t, std::string> inbound_port_owners_;  // port -> target name
  std::string webhook_target_;  // the inbound target with `discover: webhooks`
  std::vector<std::string> private_endpoints_;                // aws.private_endpoints' services
  Position private_endpoints_position_;
};

}  // namespace

bool asks_for_imds(std::string_view yaml) {
  try {
    const YAML::Node root = YAML::Load(std::string(yaml));
    if (!root.IsMap() || !root["aws"] || !root["aws"].IsMap()) return false;
    const YAML::Node imds = root["aws"]["imds"];
    return imds && imds.IsScalar() && imds.as<bool>(false);
  } catch (const std::exception&) {
    return false;
  }
}

std::optional<std::string> listen_address_problem(std::string_view text) {
  const std::string address(text);
  const std::string problem = quote(address) + " must be IP:PORT, e.g. 0.0.0.0:9754 or [::]:9754";
  const std::size_t colon = address.rfind(':');
  if (colon == std::string::npos) return problem;
  std::string host = address.substr(0, colon);
  if (!parse_port(std::string_view(address).substr(colon + 1))) return problem;
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') {
    return is_ipv6(host.substr(1, host.size() - 2)) ? std::nullopt : std::optional(problem);
  }
  return is_ipv4(host) ? std::nullopt : std::optional(problem);
}

LoadResult load_config_string(std::string_view yaml, const std::string& path,
                              const EnvLookup& env) {
  try {
    return Loader(path, yaml, env).load();
  } catch (const std::exception& e) {
    // Nothing above is meant to throw; a stray exception (from an EnvLookup, from yaml-cpp)
    // still becomes an error rather than a crash of `validate` or a reload.
    LoadResult result;
    result.errors.push_back({path, 0, 0, std::string("internal error: ") + e.what()});
    return result;
  }
}

LoadResult load_config_file(const std::string& path, const EnvLookup& env) {
  auto file = read_config_file(path);
  if (!file.problem.empty()) {
    LoadResult result;
    result.errors.push_back({path, 0, 0, std::move(file.problem)});
    return result;
  }
  return load_config_string(file.text, path, env);
}

}  // namespace reachprobe::config
