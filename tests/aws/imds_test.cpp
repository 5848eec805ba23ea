#include "probe/aws/imds.hpp"

#include <gtest/gtest.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <cstdlib>
#include <map>

#include "tests/support/exposition.hpp"
#include "tests/support/fake_imds.hpp"
#include "tests/support/wait.hpp"

namespace reachprobe::aws {
namespace {

namespace asio = boost::asio;
using namespace std::chrono_literals;
using test::FakeImds;
using test::FakeImdsOptions;

bool has(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

config::EnvLookup env_of(std::map<std::string, std::string> values) {
  return [values = std::move(values)](std::string_view name) -> std::optional<std::string> {
    auto it = values.find(std::string(name));
    if (it == values.end()) return std::nullopt;
    return it->second;
  };
}

Url url_of(const std::string& text) { return std::get<Url>(parse_url(text)); }

class ImdsClientTest : public ::testing::Test {
 protected:
  template <typename T>
  T run(asio::awaitable<T> work) {
    std::optional<T> out;
    std::exception_ptr failure;
    asio::co_spawn(io_, std::move(work), [&](std::exception_ptr e, T value) {
      failure = e;
      out = std::move(value);
    });
    io_.restart();
    io_.run();
    if (failure) std::rethrow_exception(failure);
    return std::move(*out);
  }
  ImdsClient client(const FakeImds& imds, ImdsOptions options = {}) {
    return ImdsClient(resolver_, url_of(imds.url()), options, env_of({}));
  }

  asio::io_context io_;
  std::shared_ptr<dns::Resolver> resolver_ =
      std::make_shared<dns::Resolver>(io_, dns::ResolverOptions{});
};

TEST_F(ImdsClientTest, ReadsEveryFactOfThePrimaryInterfaceWithOneToken) {
  FakeImds imds;
  auto c = client(imds);
  const NodeFacts facts = run(c.node_facts());
  EXPECT_TRUE(facts.problems.empty()) << facts.problems.front();
  EXPECT_EQ(facts.region, "eu-west-1");
  EXPECT_EQ(facts.availability_zone, "eu-west-1a");
  EXPECT_EQ(facts.instance_id, "i-0123456789abcdef0");
  EXPECT_EQ(facts.mac, "0a:1b:2c:3d:4e:5f");
  EXPECT_EQ(facts.subnet_id, "subnet-0aa11bb22cc33dd44");
  EXPECT_EQ(facts.vpc_id, "vpc-0123abcd4567ef890");
  EXPECT_EQ(facts.vpc_cidrs, std::vector<std::string>{"198.18.0.0/15"});
  EXPECT_EQ(facts.subnet_cidr, "198.18.0.0/15");
  EXPECT_EQ(facts.account_id, "123456789012");
  ASSERT_EQ(facts.security_groups.size(), 2u);
  EXPECT_EQ(facts.security_groups[0].id, "sg-0a1b2c3d4e5f60718");
  EXPECT_EQ(facts.security_groups[0].name, "demo-node-20261130");
  ASSERT_NE(facts.node_security_group(), nullptr);
  EXPECT_EQ(facts.node_security_group()->id, "sg-0a1b2c3d4e5f60718");
  ASSERT_NE(facts.cluster_security_group(), nullptr);
  EXPECT_EQ(facts.cluster_security_group()->id, "sg-0fedcba9876543210");
  EXPECT_EQ(imds.token_requests(), 1u);
  EXPECT_EQ(imds.get_requests(), 11u);
  EXPECT_EQ(imds.unauthorized_gets(), 0u);  // every GET carried the token
}

TEST_F(ImdsClientTest, NoImdsIsOneFailedRequestAndAClearProblem) {
  test::ClosedTcpPort closed;
  ImdsClient c(resolver_, url_of("http://127.0.0.1:" + std::to_string(closed.port())), {},
               env_of({}));
  const NodeFacts facts = run(c.node_facts());
  EXPECT_TRUE(facts.empty());
  ASSERT_EQ(facts.problems.size(), 1u);
  EXPECT_TRUE(has(facts.problems[0], "IMDS is not reachable")) << facts.problems[0];
  EXPECT_TRUE(has(facts.problems[0], "refused")) << facts.problems[0];
  // Asked again: no new request, the same answer.
  const NodeFacts again = run(c.node_facts());
  EXPECT_EQ(c.token_requests(), 1u);
  EXPECT_EQ(again.problems, facts.problems);
}

class ImdsRefusingTokens : public ImdsClientTest, public ::testing::WithParamInterface<int> {};

TEST_P(ImdsRefusingTokens, IsOneLineAndNoRetries) {
  FakeImdsOptions options;
  options.put_status = GetParam();
  FakeImds imds(options);
  auto c = client(imds);
  const NodeFacts facts = run(c.node_facts());
  EXPECT_TRUE(facts.empty());
  ASSERT_EQ(facts.problems.size(), 1u);
  EXPECT_TRUE(has(facts.problems[0], "with HTTP " + std::to_string(GetParam())))
      << facts.problems[0];
  EXPECT_TRUE(has(facts.problems[0], "--http-endpoint enabled")) << facts.problems[0];
  for (int i = 0; i < 3; ++i) EXPECT_FALSE(run(c.get("/latest/meta-data/instance-id")).body);
  EXPECT_EQ(imds.token_requests(), 1u);
  EXPECT_EQ(imds.get_requests(), 0u);
}

INSTANTIATE_TEST_SUITE_P(Statuses, ImdsRefusingTokens, ::testing::Values(401, 403));

TEST_F(ImdsClientTest, ATokenRequestWithoutAnswerIsTheHopLimit) {
  FakeImdsOptions options;
  options.put_delay = 5s;  // the PUT's answer never makes it back within the timeout
  FakeImds imds(options);
  auto c = client(imds);
  const auto started = std::chrono::steady_clock::now();
  const NodeFacts facts = run(c.node_facts());
  EXPECT_LT(std::chrono::steady_clock::now() - started, 3500ms);
  EXPECT_TRUE(facts.empty());
  ASSERT_EQ(facts.problems.size(), 1u);
  EXPECT_TRUE(has(facts.problems[0], "hop limit")) << facts.problems[0];
  EXPECT_TRUE(has(facts.problems[0], "--http-put-response-hop-limit 2")) << facts.problems[0];
  EXPECT_EQ(imds.token_requests(), 1u);
  EXPECT_EQ(imds.get_requests(), 0u);
}

TEST_F(ImdsClientTest, ASlowImdsCostsOneTimeoutNotOnePerFact) {
  FakeImdsOptions options;
  options.get_delay = 5s;
  FakeImds imds(options);
  auto c = client(imds);
  const auto started = std::chrono::steady_clock::now();
  const NodeFacts facts = run(c.node_facts());
  const auto took = std::chrono::steady_clock::now() - started;
  EXPECT_GE(took, 900ms);
  EXPECT_LT(took, 3500ms);  // one timeout, not one per fact (4 s and more)
  EXPECT_TRUE(facts.empty());
  ASSERT_EQ(facts.problems.size(), 1u);
  EXPECT_TRUE(has(facts.problems[0], "stopped answering")) << facts.problems[0];
  EXPECT_EQ(imds.get_requests(), 1u);
}

TEST_F(ImdsClientTest, AGarbageTokenIsNotSent) {
  FakeImdsOptions options;
  options.garbage_token = true;
  FakeImds imds(options);
  auto c = client(imds);
  const NodeFacts facts = run(c.node_facts());
  EXPECT_TRUE(facts.empty());
  ASSERT_EQ(facts.problems.size(), 1u);
  EXPECT_TRUE(has(facts.problems[0], "no token")) << facts.problems[0];
  EXPECT_EQ(imds.get_requests(), 0u);
}

TEST_F(ImdsClientTest, GarbageValuesAreProblemsNotFacts) {
  FakeImdsOptions options;
  options.garbage_documents = true;
  FakeImds imds(options);
  auto c = client(imds);
  const NodeFacts facts = run(c.node_facts());
  EXPECT_TRUE(facts.empty());
  EXPECT_TRUE(facts.region.empty());
  EXPECT_TRUE(facts.mac.empty());
  ASSERT_FALSE(facts.problems.empty());
  EXPECT_TRUE(has(facts.problems[0], "which is no region")) << facts.problems[0];
  // Without the MAC the interface's facts cannot be asked: region, zone, id and MAC only.
  EXPECT_EQ(imds.get_requests(), 4u);
}

TEST_F(ImdsClientTest, MissingInterfaceFactsLeaveTheOthers) {
  FakeImdsOptions options;
  options.vpc_cidrs.clear();  // 200 with an empty body: no list
  options.security_groups = {{"sg-0a1b2c3d4e5f60718", "demo-node"}, {"not-an-id", "x"}};
  FakeImds imds(options);
  auto c = client(imds);
  const NodeFacts facts = run(c.node_facts());
  EXPECT_EQ(facts.region, "eu-west-1");
  EXPECT_EQ(facts.subnet_id, "subnet-0aa11bb22cc33dd44");
  EXPECT_TRUE(facts.vpc_cidrs.empty());
  EXPECT_TRUE(facts.security_groups.empty());
  EXPECT_EQ(facts.problems.size(), 2u);
}

TEST_F(ImdsClientTest, TheTokenIsRenewedBeforeItExpires) {
  FakeImds imds;
  ImdsOptions options;
  options.token_ttl = 1s;
  auto c = client(imds, options);
  ASSERT_TRUE(run(c.get("/latest/meta-data/instance-id")).body);
  EXPECT_EQ(imds.token_requests(), 1u);
  ASSERT_TRUE(test::wait_until([&] { return imds.tokens_expired(); }, 5s));
  auto reply = run(c.get("/latest/meta-data/instance-id"));
  ASSERT_TRUE(reply.body) << reply.error;
  EXPECT_EQ(*reply.body, "i-0123456789abcdef0");
  EXPECT_EQ(imds.token_requests(), 2u);
  EXPECT_EQ(imds.unauthorized_gets(), 0u);  // never sent an expired token
}

TEST_F(ImdsClientTest, ATokenImdsForgotIsReplacedOnce) {
  FakeImds imds;
  auto c = client(imds);
  ASSERT_TRUE(run(c.get("/latest/meta-data/instance-id")).body);
  imds.revoke_tokens();
  auto reply = run(c.get("/latest/meta-data/placement/region"));
  ASSERT_TRUE(reply.body) << reply.error;
  EXPECT_EQ(*reply.body, "eu-west-1");
  EXPECT_EQ(imds.token_requests(), 2u);
  EXPECT_EQ(imds.unauthorized_gets(), 1u);
}

TEST(ImdsEndpoint, IsTheSdkVariableElseTheLinkLocalAddress) {
  auto from_env =
      imds_endpoint(env_of({{"AWS_EC2_METADATA_SERVICE_ENDPOINT", "http://127.0.0.1:8/"}}));
  ASSERT_TRUE(from_env.url);
  EXPECT_EQ(from_env.url->host, "127.0.0.1");
  EXPECT_EQ(from_env.url->port, 8);
  EXPECT_EQ(from_env.url->target, "/");
  EXPECT_FALSE(is_real_imds(*from_env.url));

  auto fallback = imds_endpoint(env_of({}));
  ASSERT_TRUE(fallback.url);
  EXPECT_EQ(fallback.url->host, "169.254.169.254");
  EXPECT_TRUE(is_real_imds(*fallback.url));
  EXPECT_TRUE(is_real_imds(url_of("http://[fd00:ec2::254]")));
}

TEST(ImdsEndpoint, DisabledLikeTheSdks) {
  EXPECT_TRUE(imds_endpoint(env_of({{"AWS_EC2_METADATA_DISABLED", "true"}})).disabled);
  EXPECT_TRUE(imds_endpoint(env_of({{"AWS_EC2_METADATA_DISABLED", "TRUE"}})).disabled);
  EXPECT_FALSE(imds_endpoint(env_of({{"AWS_EC2_METADATA_DISABLED", "false"}})).disabled);
}

TEST(ImdsEndpoint, ABadVariableIsAProblemNotACrash) {
  auto bad = imds_endpoint(env_of({{"AWS_EC2_METADATA_SERVICE_ENDPOINT", "169.254.169.254"}}));
  EXPECT_FALSE(bad.url);
  EXPECT_TRUE(has(bad.problem, "AWS_EC2_METADATA_SERVICE_ENDPOINT")) << bad.problem;
}

TEST(ImdsEndpoint, DisabledAsksNothing) {
  FakeImds imds;
  asio::io_context io;
  auto facts = read_node_facts(io, env_of({{"AWS_EC2_METADATA_DISABLED", "true"},
                                           {"AWS_EC2_METADATA_SERVICE_ENDPOINT", imds.url()}}));
  EXPECT_TRUE(facts.empty());
  EXPECT_EQ(imds.token_requests(), 0u);
}

TEST(ImdsEndpoint, ReadNodeFactsUsesTheVariable) {
  FakeImds imds;
  asio::io_context io;
  auto facts = read_node_facts(io, env_of({{"AWS_EC2_METADATA_SERVICE_ENDPOINT", imds.url()}}));
  EXPECT_EQ(facts.instance_id, "i-0123456789abcdef0");
  EXPECT_EQ(imds.token_requests(), 1u);
}

// The guarantee that no test sends a packet to 169.254.169.254: the suite runs every test
// with the marker and a loopback endpoint...
TEST(ImdsUnderTheSuite, EveryTestRunsWithTheMarkerAndALoopbackEndpoint) {
  ASSERT_NE(std::getenv("REACHPROBE_TEST_SUITE"), nullptr);
  const auto endpoint = imds_endpoint(config::system_env());
  ASSERT_TRUE(endpoint.url);
  EXPECT_FALSE(is_real_imds(*endpoint.url));
  EXPECT_TRUE(endpoint.url->host.starts_with("127.")) << endpoint.text;
}

// ...and a client built for the real address anyway kills its test, before any socket is
// opened.
TEST(ImdsUnderTheSuiteDeathTest, TheRealAddressAbortsTheTest) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  asio::io_context io;
  auto resolver = std::make_shared<dns::Resolver>(io, dns::ResolverOptions{});
  const auto suite = env_of({{"REACHPROBE_TEST_SUITE", "1"}});
  EXPECT_DEATH(ImdsClient(resolver, url_of("http://169.254.169.254"), {}, suite),
               "refusing to contact the real instance metadata service");
  // Only the constructor runs here, which opens no socket, so even a broken guard sends
  // nothing. The path through read_node_facts and the default address is proved by
  // ImdsBinaryTest.UnderTheSuiteTheRealAddressAbortsTheBinary, in a network namespace of
  // its own where no packet could leave.
}

}  // namespace
}  // namespace reachprobe::aws
