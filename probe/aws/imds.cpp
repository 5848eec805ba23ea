#include "probe/aws/imds.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/ip/address.hpp>
#include <boost/beast/http/verb.hpp>
#include <boost/property_tree/json_parser.hpp>
#include <boost/property_tree/ptree.hpp>
#include <cstdio>
#include <cstdlib>
#include <sstream>

#include "probe/core/duration_text.hpp"
#include "probe/log/logging.hpp"

namespace reachprobe::aws {

namespace asio = boost::asio;
namespace http = boost::beast::http;

namespace {

std::string lower(std::string text) {
  for (char& c : text) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  return text;
}

std::string_view trim(std::string_view text) {
  while (!text.empty() && (text.front() == ' ' || text.front() == '\t' || text.front() == '\r' ||
                           text.front() == '\n')) {
    text.remove_prefix(1);
  }
  while (!text.empty() && (text.back() == ' ' || text.back() == '\t' || text.back() == '\r' ||
                           text.back() == '\n')) {
    text.remove_suffix(1);
  }
  return text;
}

std::vector<std::string> lines(std::string_view text) {
  std::vector<std::string> out;
  while (!text.empty()) {
    const auto end = text.find('\n');
    const auto line = trim(text.substr(0, end));
    if (!line.empty()) out.emplace_back(line);
    if (end == std::string_view::npos) break;
    text.remove_prefix(end + 1);
  }
  return out;
}

// A token is opaque, but it goes into a header: printable ASCII without spaces.
bool is_token(std::string_view text) {
  return !text.empty() && text.size() <= 1024 &&
         std::all_of(text.begin(), text.end(), [](char c) { return c > ' ' && c < 0x7f; });
}

// What a value looks like when it is not one: the first bytes, printable.
std::string excerpt(std::string_view text) {
  std::string out;
  for (char c : text.substr(0, 40)) out += (c >= ' ' && c < 0x7f) ? c : '?';
  if (text.size() > 40) out += "...";
  return "'" + out + "'";
}

}  // namespace

ImdsEndpoint imds_endpoint(const config::EnvLookup& env) {
  ImdsEndpoint endpoint;
  if (auto disabled = env(kImdsDisabledVariable); disabled && lower(*disabled) == "true") {
    endpoint.disabled = true;
    return endpoint;
  }
  auto configured = env(kImdsEndpointVariable);
  endpoint.text =
      configured && !configured->empty() ? *configured : std::string(kDefaultImdsEndpoint);
  auto parsed = parse_url(endpoint.text);
  if (auto* problem = std::get_if<std::string>(&parsed)) {
    endpoint.problem = fmt::format("{}: {}", kImdsEndpointVariable, *problem);
    return endpoint;
  }
  endpoint.url = std::get<Url>(std::move(parsed));
  return endpoint;
}

bool is_real_imds(const Url& url) {
  boost::system::error_code ec;
  const auto address = asio::ip::make_address(url.host, ec);
  if (ec) return false;
  return address == asio::ip::make_address("169.254.169.254") ||
         address == asio::ip::make_address("fd00:ec2::254");
}

void refuse_real_imds_under_test(const Url& url, const config::EnvLookup& env) {
  if (!is_real_imds(url) || !env(kTestSuiteVariable)) return;
  std::fprintf(stderr,
               "reachprobe: refusing to contact the real instance metadata service (%s) under "
               "the test suite (%s is set): set %s to a stand-in\n",
               url.host.c_str(), std::string(kTestSuiteVariable).c_str(),
               std::string(kImdsEndpointVariable).c_str());
  std::abort();
}

ImdsClient::ImdsClient(std::shared_ptr<dns::Resolver> resolver, Url base, ImdsOptions options,
                       const config::EnvLookup& env)
    : http_(std::move(resolver)), base_(std::move(base)), options_(options) {
  refuse_real_imds_under_test(base_, env);
  // A path prefix is kept; requests append /latest/... to it.
  while (!base_.target.empty() && base_.target.back() == '/') base_.target.pop_back();
}

asio::awaitable<bool> ImdsClient::renew_token() {
  ++token_requests_;
  token_.clear();
  Url url = base_;
  url.target = base_.target + "/latest/api/token";
  const std::string where =
      fmt::format("PUT {}://{}{}", url.https ? "https" : "http", url.authority(), url.target);
  auto request = make_request(
      http::verb::put, url, "",
      {{"X-aws-ec2-metadata-token-ttl-seconds", std::to_string(options_.token_ttl.count())},
       {"Content-Length", "0"}});
  ProbeResult result;
  const auto asked = Clock::now();
  // Named, not temporaries: GCC 12 mishandles non-trivial temporaries in a co_await.
  const TlsOptions tls;
  const Deadline deadline = Deadline::after(options_.request_timeout);
  auto response = co_await http_.exchange(url, request, tls, deadline, result);
  if (!response) {
    if (result.outcome == Outcome::Timeout && result.phase(Phase::FirstByte)) {
      // Connected, then silence: what a hop limit of 1 does to a process behind a bridge
      // (the answer's TTL runs out on the way back); a GET would still be answered.
      problem_ = fmt::format(
          "IMDSv2 token request ({}) got no answer within {}: the instance's metadata hop "
          "limit (HttpPutResponseHopLimit) is probably 1 and this process is not on the host "
          "network; run with hostNetwork, or raise the limit: aws ec2 "
          "modify-instance-metadata-options --instance-id ID --http-put-response-hop-limit 2",
          where, format_latency(options_.request_timeout));
    } else {
      problem_ = fmt::format(
          "IMDS is not reachable ({}: {}): not an EC2 instance, or its metadata endpoint is "
          "off; AWS_EC2_METADATA_DISABLED=true or aws.imds: false stops asking",
          where, result.message.empty() ? std::string(to_string(result.outcome)) : result.message);
    }
    co_return false;
  }
  if (response->status == 401 || response->status == 403) {
    problem_ = fmt::format(
        "IMDS refused the IMDSv2 token request ({}) with HTTP {}: the instance's metadata "
        "endpoint is disabled or restricted (aws ec2 modify-instance-metadata-options "
        "--http-endpoint enabled)",
        where, response->status);
    co_return false;
  }
  if (response->status != 200) {
    problem_ = fmt::format("IMDSv2 token request ({}) answered HTTP {} {}", where, response->status,
                           response->reason);
    co_return false;
  }
  const auto token = trim(response->body);
  if (!is_token(token)) {
    problem_ = fmt::format("IMDSv2 token request ({}) answered {} bytes that are no token: {}",
                           where, response->body.size(), excerpt(response->body));
    co_return false;
  }
  token_ = std::string(token);
  // Renewed a quarter of its life (at most a minute) before it runs out, so no request
  // carries a token that expires on the way.
  const Duration life = options_.token_ttl;
  const Duration margin = std::min<Duration>(life / 4, std::chrono::seconds(60));
  renew_at_ = asked + life - margin;
  co_return true;
}

asio::awaitable<ImdsReply> ImdsClient::get_once(const std::string& path) {
  Url url = base_;
  url.target = base_.target + path;
  auto request = make_request(http::verb::get, url, "", {{"X-aws-ec2-metadata-token", token_}});
  ProbeResult result;
  // Named, not temporaries: GCC 12 mishandles non-trivial temporaries in a co_await.
  const TlsOptions tls;
  const Deadline deadline = Deadline::after(options_.request_timeout);
  auto response = co_await http_.exchange(url, request, tls, deadline, result);
  ImdsReply reply;
  if (!response) {
    reply.error = fmt::format("GET {}: {}", path, result.message);
    // The next request would wait as long again: one stall ends the reading.
    problem_ = fmt::format("IMDS stopped answering, not asked again: {}", reply.error);
    co_return reply;
  }
  reply.status = response->status;
  if (response->status == 200) {
    reply.body = std::move(response->body);
  } else {
    reply.error = fmt::format("GET {}: HTTP {} {}", path, response->status, response->reason);
  }
  co_return reply;
}

asio::awaitable<ImdsReply> ImdsClient::get(const std::string& path) {
  if (!problem_.empty()) co_return ImdsReply{std::nullopt, 0, problem_};
  if (token_.empty() || Clock::now() >= renew_at_) {
    if (!co_await renew_token()) co_return ImdsReply{std::nullopt, 0, problem_};
  }
  auto reply = co_await get_once(path);
  if (reply.status == 401) {
    // The token is no longer honoured (IMDS restarted, the clock jumped): one new token,
    // one more try.
    if (!co_await renew_token()) co_return ImdsReply{std::nullopt, 0, problem_};
    reply = co_await get_once(path);
  }
  co_return reply;
}

namespace {

// One value: its body, trimmed, if it passes `valid`; else a problem and nullopt.
asio::awaitable<std::optional<std::string>> read_value(ImdsClient& client, const std::string& path,
                                                       bool (*valid)(std::string_view),
                                                       std::string_view what, NodeFacts& facts) {
  auto reply = co_await client.get(path);
  if (!reply.body) {
    if (client.problem().empty())
      facts.problems.push_back(fmt::format("{}: {}", what, reply.error));
    co_return std::nullopt;
  }
  const auto value = trim(*reply.body);
  if (!valid(value)) {
    facts.problems.push_back(fmt::format("{}: GET {} answered {}, which is no {}", what, path,
                                         excerpt(*reply.body), what));
    co_return std::nullopt;
  }
  co_return std::string(value);
}

asio::awaitable<std::optional<std::vector<std::string>>> read_list(ImdsClient& client,
                                                                   const std::string& path,
                                                                   bool (*valid)(std::string_view),
                                                                   std::string_view what,
                                                                   NodeFacts& facts) {
  auto reply = co_await client.get(path);
  if (!reply.body) {
    if (client.problem().empty())
      facts.problems.push_back(fmt::format("{}: {}", what, reply.error));
    co_return std::nullopt;
  }
  auto items = lines(*reply.body);
  if (items.empty() || !std::all_of(items.begin(), items.end(),
                                    [&](const std::string& item) { return valid(item); })) {
    facts.problems.push_back(fmt::format("{}: GET {} answered {}, which is no list of {}", what,
                                         path, excerpt(*reply.body), what));
    co_return std::nullopt;
  }
  co_return items;
}

bool any_text(std::string_view text) {
  return !text.empty() && text.size() <= 255 &&
         std::all_of(text.begin(), text.end(), [](char c) { return c >= ' ' && c < 0x7f; });
}
bool instance_id(std::string_view t) { return is_aws_id(t, "i"); }
bool sg_id(std::string_view t) { return is_aws_id(t, "sg"); }
bool subnet_id(std::string_view t) { return is_aws_id(t, "subnet"); }
bool vpc_id(std::string_view t) { return is_aws_id(t, "vpc"); }

// The identity document is JSON; only its accountId is wanted.
std::optional<std::string> account_in_document(const std::string& document) {
  try {
    std::istringstream in(document);
    boost::property_tree::ptree tree;
    boost::property_tree::read_json(in, tree);
    auto account = tree.get_optional<std::string>("accountId");
    if (account && is_account_id(*account)) return *account;
  } catch (const std::exception&) {
  }
  return std::nullopt;
}

}  // namespace

asio::awaitable<NodeFacts> ImdsClient::node_facts() {
  NodeFacts facts;
  auto stop = [&] {
    if (problem_.empty()) return false;
    facts.problems.push_back(problem_);
    return true;
  };
  // Paths and names are named locals: GCC 12 mishandles non-trivial temporaries in a
  // co_await expression.
  const std::string region_path = "/latest/meta-data/placement/region";
  const std::string zone_path = "/latest/meta-data/placement/availability-zone";
  const std::string instance_path = "/latest/meta-data/instance-id";
  const std::string mac_path = "/latest/meta-data/mac";
  if (auto v = co_await read_value(*this, region_path, is_region, "region", facts)) {
    facts.region = *v;
  }
  if (stop()) co_return facts;
  if (auto v =
          co_await read_value(*this, zone_path, is_availability_zone, "availability zone", facts)) {
    facts.availability_zone = *v;
  }
  if (auto v = co_await read_value(*this, instance_path, instance_id, "instance id", facts)) {
    facts.instance_id = *v;
  }
  auto mac = co_await read_value(*this, mac_path, is_mac, "MAC address", facts);
  if (stop() || !mac) co_return facts;
  facts.mac = *mac;
  const std::string interface = "/latest/meta-data/network/interfaces/macs/" + *mac;
  const std::string ids_path = interface + "/security-group-ids";
  const std::string names_path = interface + "/security-groups";
  const std::string subnet_path = interface + "/subnet-id";
  const std::string vpc_path = interface + "/vpc-id";
  const std::string cidrs_path = interface + "/vpc-ipv4-cidr-blocks";
  auto ids = co_await read_list(*this, ids_path, sg_id, "security group ids", facts);
  auto names = co_await read_list(*this, names_path, any_text, "security group names", facts);
  if (ids) {
    for (std::size_t i = 0; i < ids->size(); ++i) {
      // IMDS lists both in the interface's order; names only pair up if the counts agree.
      std::string name = names && names->size() == ids->size() ? (*names)[i] : std::string();
      facts.security_groups.push_back({(*ids)[i], std::move(name)});
    }
    if (names && names->size() != ids->size()) {
      facts.problems.push_back(
          fmt::format("security group names: {} names for {} ids", names->size(), ids->size()));
    }
  }
  if (auto v = co_await read_value(*this, subnet_path, subnet_id, "subnet id", facts)) {
    facts.subnet_id = *v;
  }
  if (auto v = co_await read_value(*this, vpc_path, vpc_id, "VPC id", facts)) {
    facts.vpc_id = *v;
  }
  if (auto v = co_await read_list(*this, cidrs_path, is_ipv4_cidr, "VPC CIDR blocks", facts)) {
    facts.vpc_cidrs = std::move(*v);
  }
  const std::string subnet_cidr_path = interface + "/subnet-ipv4-cidr-block";
  if (auto v =
          co_await read_value(*this, subnet_cidr_path, is_ipv4_cidr, "subnet CIDR block", facts)) {
    facts.subnet_cidr = *v;
  }
  if (stop()) co_return facts;
  const std::string document_path = "/latest/dynamic/instance-identity/document";
  auto document = co_await get(document_path);
  if (document.body) {
    if (auto account = account_in_document(*document.body)) {
      facts.account_id = *account;
    } else {
      facts.problems.push_back(fmt::format("account id: GET {} answered {}, which has no accountId",
                                           document_path, excerpt(*document.body)));
    }
  } else if (problem_.empty()) {
    facts.problems.push_back(fmt::format("account id: {}", document.error));
  }
  stop();
  co_return facts;
}

namespace {

asio::awaitable<void> read_all(ImdsClient& client, NodeFacts& facts, bool& done,
                               asio::io_context& io) {
  facts = co_await client.node_facts();
  done = true;
  io.stop();
}

}  // namespace

NodeFacts read_node_facts(asio::io_context& io, const config::EnvLookup& env, ImdsOptions options) {
  const auto endpoint = imds_endpoint(env);
  if (endpoint.disabled) {
    log::event(spdlog::level::info, "IMDS not asked: AWS_EC2_METADATA_DISABLED is true");
    return {};
  }
  if (!endpoint.problem.empty()) {
    log::event(spdlog::level::warn, "IMDS not asked", {{"error", endpoint.problem}});
    return {};
  }
  auto resolver = std::make_shared<dns::Resolver>(io, dns::ResolverOptions{});
  ImdsClient client(resolver, *endpoint.url, options, env);
  NodeFacts facts;
  bool done = false;
  asio::co_spawn(io, read_all(client, facts, done, io), asio::detached);
  io.restart();
  io.run();
  io.restart();
  if (!done) facts.problems.push_back("reading IMDS did not complete");
  for (const auto& problem : facts.problems) {
    log::event(spdlog::level::warn, "IMDS", {{"endpoint", endpoint.text}, {"error", problem}});
  }
  if (!facts.empty()) {
    std::string groups;
    for (const auto& g : facts.security_groups) {
      if (!groups.empty()) groups += ",";
      groups += g.name.empty() ? g.id : g.id + "(" + g.name + ")";
    }
    std::string cidrs;
    for (const auto& c : facts.vpc_cidrs) cidrs += (cidrs.empty() ? "" : ",") + c;
    log::event(spdlog::level::info, "node facts from IMDS",
               {{"region", facts.region},
                {"zone", facts.availability_zone},
                {"instance_id", facts.instance_id},
                {"subnet_id", facts.subnet_id},
                {"vpc_id", facts.vpc_id},
                {"vpc_cidrs", cidrs},
                {"subnet_cidr", facts.subnet_cidr},
                {"account_id", facts.account_id},
                {"security_groups", groups}});
  }
  return facts;
}

}  // namespace reachprobe::aws
