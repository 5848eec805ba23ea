#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

namespace reachprobe {

// Which `limit` of `keys` a node takes when it may take no more than that (a dns fan-out
// past max_connect or the default bound; discovered endpoints past max_connect): those with
// the highest stable_hash(node_name + '\x1f' + key), i.e. rendezvous hashing. Returns
// indexes into `keys`, ascending, so the chosen keep their original order. Each node keeps
// its choice while the keys do not change, different nodes choose differently (together
// they cover the keys), and when a key comes or goes, at most that one choice changes.
// All indexes when there are no more than `limit` keys.
std::vector<std::size_t> rendezvous_choice(const std::vector<std::string>& keys, std::size_t limit,
                                           std::string_view node_name);

}  // namespace reachprobe
