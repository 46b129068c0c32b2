#pragma once
// A fast 64-bit content hash: eight bytes per step (multiply-rotate rounds), the length mixed
// in, a full avalanche at the end. For in-process comparisons only (the group block
// decision): its values are not stable across versions and never persisted (persisted or
// cross-process hashes use common/fnv1a.hpp). Pure, no state; chain calls by passing the
// previous result as `seed` - each piece's length is mixed in, so ("ab","c") and ("a","bc")
// differ without separators.
#include <cstdint>
#include <cstring>
#include <string_view>

namespace orch::common {

inline constexpr std::uint64_t hash64_seed = 0x9e3779b97f4a7c15ULL;

namespace hash64_detail {

inline constexpr std::uint64_t k1 = 0x9e3779b185ebca87ULL;
inline constexpr std::uint64_t k2 = 0xc2b2ae3d27d4eb4fULL;
inline constexpr std::uint64_t k3 = 0x165667b19e3779f9ULL;

constexpr std::uint64_t rotl(std::uint64_t x, int r) { return (x << r) | (x >> (64 - r)); }

// One word into the state: a bijective scramble of the word, then of the state.
constexpr std::uint64_t step(std::uint64_t h, std::uint64_t w) {
  w *= k2;
  w = rotl(w, 31);
  w *= k1;
  h ^= w;
  return rotl(h, 27) * k1 + k3;
}

// The splitmix64 finaliser: every input bit reaches every output bit.
constexpr std::uint64_t avalanche(std::uint64_t h) {
  h ^= h >> 30;
  h *= 0xbf58476d1ce4e5b9ULL;
  h ^= h >> 27;
  h *= 0x94d049bb133111ebULL;
  h ^= h >> 31;
  return h;
}

}  // namespace hash64_detail

inline std::uint64_t hash64(std::string_view s, std::uint64_t seed = hash64_seed) {
  using namespace hash64_detail;
  std::uint64_t h = step(seed, static_cast<std::uint64_t>(s.size()) ^ k3);
  const char* p = s.data();
  std::size_t n = s.size();
  for (; n >= 8; p += 8, n -= 8) {
    std::uint64_t w = 0;
    std::memcpy(&w, p, 8);
    h = step(h, w);
  }
  if (n > 0) {
    std::uint64_t w = 0;
    std::memcpy(&w, p, n);
    h = step(h, w);
  }
  return avalanche(h);
}

}  // namespace orch::common
