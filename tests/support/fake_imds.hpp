#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <utility>
#include <vector>

namespace reachprobe::test {

// What the stand-in IMDS says and how it misbehaves.
struct FakeImdsOptions {
  std::string region = "eu-west-1";
  std::string availability_zone = "eu-west-1a";
  std::string instance_id = "i-0123456789abcdef0";
  std::string mac = "0a:1b:2c:3d:4e:5f";
  // (id, name), in the interface's order: the module's node group, then the cluster group
  // that EKS managed node groups attach.
  std::vector<std::pair<std::string, std::string>> security_groups = {
      {"sg-0a1b2c3d4e5f60718", "demo-node-20261130"},
      {"sg-0fedcba9876543210", "eks-cluster-sg-demo-1234567890"}};
  std::string subnet_id = "subnet-0aa11bb22cc33dd44";
  std::string vpc_id = "vpc-0123abcd4567ef890";
  std::vector<std::string> vpc_cidrs = {"198.18.0.0/15"};
  // The node's subnet: by default the whole VPC, so every test address is in it (no
  // NACL-shaped diagnosis unless a test asks for smaller subnets).
  std::string subnet_cidr = "198.18.0.0/15";
  std::string account_id = "123456789012";

  int put_status = 200;                    // 401/403: IMDS refusing tokens
  std::chrono::milliseconds put_delay{0};  // beyond the client's 1 s: a hop limit of 1
  std::chrono::milliseconds get_delay{0};
  bool garbage_token = false;      // the token is binary junk
  bool garbage_documents = false;  // every GET's 200 body is binary junk

  // IMDS's HttpPutResponseHopLimit: the IP TTL of the answer to a token PUT (0: the
  // system's). It limits the answer, not the TCP handshake: with 1, a client one router
  // away connects and sends its PUT, and the answer dies at the router.
  int put_answer_ttl = 0;
  // Where it listens (port 0): loopback, an address of this namespace (e.g. the root side
  // of a TestHost's veth for a node in a namespace of its own), or an address of `netns`
  // (an `ip netns` name: IMDS one hop behind the node) when that is set.
  std::string listen_address = "127.0.0.1";
  std::string netns;
};

// A stand-in for the EC2 instance metadata service, IMDSv2 as AWS runs it: PUT
// /latest/api/token with X-aws-ec2-metadata-token-ttl-seconds (1..21600, else 400) issues
// a token valid for that long; a GET without a valid, unexpired X-aws-ec2-metadata-token
// is 401; unknown paths are 404. HTTP on 127.0.0.1, port 0, on its own thread, stopped and
// joined by the destructor (on listen_address in netns when set). All members are
// thread-safe.
class FakeImds {
 public:
  explicit FakeImds(FakeImdsOptions options = {});
  ~FakeImds();
  FakeImds(const FakeImds&) = delete;
  FakeImds& operator=(const FakeImds&) = delete;

  std::uint16_t port() const { return port_; }
  std::string url() const;  // for AWS_EC2_METADATA_SERVICE_ENDPOINT: http://ADDRESS:PORT
  // "AWS_EC2_METADATA_SERVICE_ENDPOINT=http://127.0.0.1:PORT", for a child's environment.
  std::string environment() const;

  std::size_t token_requests() const;
  std::size_t get_requests() const;
  std::size_t unauthorized_gets() const;
  // Every token issued so far has expired.
  bool tokens_expired() const;
  // Forgets every token (IMDS restarted): the next GET with one is 401.
  void revoke_tokens();

 private:
  struct Server;
  std::shared_ptr<Server> server_;
  std::uint16_t port_ = 0;
  std::thread thread_;
};

}  // namespace reachprobe::test
