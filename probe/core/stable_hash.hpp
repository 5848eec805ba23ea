#pragma once

#include <cstdint>
#include <string_view>

namespace reachprobe {

// FNV-1a finished with a splitmix64 round: stable across processes, builds and machines,
// unlike std::hash, so every node and every restart agrees on it. FNV's low bits mix poorly
// for short keys that differ at the end; the final round spreads consecutive ports too.
constexpr std::uint64_t stable_hash(std::string_view text) {
  std::uint64_t h = 1469598103934665603ULL;
  for (char c : text) {
    h ^= static_cast<unsigned char>(c);
    h *= 1099511628211ULL;
  }
  h ^= h >> 30;
  h *= 0xbf58476d1ce4e5b9ULL;
  h ^= h >> 27;
  h *= 0x94d049bb133111ebULL;
  h ^= h >> 31;
  return h;
}

}  // namespace reachprobe
