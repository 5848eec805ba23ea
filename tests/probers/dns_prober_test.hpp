#pragma once

// The fixture of the dns prober tests against the DnsResponder: a prober that asks it, and a
// resolv.conf without a search list (the machine's /etc/resolv.conf is never read).

#include <gtest/gtest.h>

#include <boost/asio/io_context.hpp>
#include <memory>

#include "probe/probers/dns.hpp"
#include "tests/probers/dns_test_helpers.hpp"
#include "tests/support/dns_responder.hpp"

namespace reachprobe::dns_test {

class DnsProberTest : public ::testing::Test {
 protected:
  boost::asio::io_context io;
  test::DnsResponder dns;
  // No search list unless a test writes its own.
  TempFile resolv_conf{"options ndots:1\n"};
  DnsProber prober{io, settings({dns.server()}, resolv_conf.path()), "node-a"};

  ProbeResult probe(std::shared_ptr<Target> target) {
    return probe_once(io, prober, endpoint_of(std::move(target)));
  }
};

}  // namespace reachprobe::dns_test
