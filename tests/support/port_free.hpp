#pragma once

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <cstdint>

namespace reachprobe::test {

// Whether a port can be bound on all addresses right now: the tests that need a fixed port (a
// webhook's 9443, say) skip when something on the machine holds it, and free_tcp_port
// (exposition.hpp) hands out only such ports.
inline bool port_free(std::uint16_t port) {
  boost::asio::io_context io;
  boost::asio::ip::tcp::acceptor a(io);
  boost::system::error_code ec;
  a.open(boost::asio::ip::tcp::v4(), ec);
  a.set_option(boost::asio::ip::tcp::acceptor::reuse_address(true), ec);
  a.bind({boost::asio::ip::tcp::v4(), port}, ec);
  return !ec;
}

}  // namespace reachprobe::test
