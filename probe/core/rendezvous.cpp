#include "probe/core/rendezvous.hpp"

#include <algorithm>
#include <cstdint>
#include <numeric>
#include <utility>

#include "probe/core/stable_hash.hpp"

namespace reachprobe {

std::vector<std::size_t> rendezvous_choice(const std::vector<std::string>& keys, std::size_t limit,
                                           std::string_view node_name) {
  std::vector<std::size_t> out(keys.size());
  std::iota(out.begin(), out.end(), std::size_t{0});
  if (keys.size() <= limit) return out;

  std::vector<std::pair<std::uint64_t, std::size_t>> ranked;
  ranked.reserve(keys.size());
  std::string scratch(node_name);
  scratch += '\x1f';
  const std::size_t prefix = scratch.size();
  for (std::size_t i = 0; i < keys.size(); ++i) {
    scratch.resize(prefix);
    scratch += keys[i];
    ranked.emplace_back(stable_hash(scratch), i);
  }
  // Highest score first; equal scores (vanishingly rare) fall back to key order.
  const auto higher = [](const auto& a, const auto& b) {
    return a.first != b.first ? a.first > b.first : a.second < b.second;
  };
  std::nth_element(ranked.begin(), ranked.begin() + static_cast<std::ptrdiff_t>(limit),
                   ranked.end(), higher);
  out.clear();
  for (std::size_t i = 0; i < limit; ++i) out.push_back(ranked[i].second);
  std::sort(out.begin(), out.end());
  return out;
}

}  // namespace reachprobe
