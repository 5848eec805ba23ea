#pragma once

#include <boost/asio/awaitable.hpp>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "probe/core/deadline.hpp"
#include "probe/dns/ares_channel.hpp"

namespace reachprobe::dns {

// What came back for one raw query: c-ares' status (ARES_SUCCESS, ARES_ENOTFOUND, ...) and
// the reply it was derived from, when c-ares hands one over (it does for every answered
// query, and not for a search that ran out of names to try).
struct RawReply {
  int status = ARES_ETIMEOUT;
  // The deadline came first: `status` is ARES_ETIMEOUT and the query is abandoned, not
  // leaked (c-ares finishes it on its own clock).
  bool deadline_passed = false;
  std::vector<unsigned char> message;
  Duration latency{};  // from sending to the answer (or to the deadline)
};

// Asks for `name` / `type` (class IN) on `channel` the way the system resolver would:
// ares_search, so a relative name follows the channel's search domains and ndots, and a
// truncated UDP reply is repeated over TCP by c-ares. Never throws for DNS conditions. The
// channel is only held while the query is started: if it is destroyed meanwhile, the reply
// is ARES_EDESTRUCTION.
boost::asio::awaitable<RawReply> search(std::weak_ptr<AresChannel> channel, std::string name,
                                        std::uint16_t type, Deadline deadline);

}  // namespace reachprobe::dns
