#pragma once
// 64-bit FNV-1a over bytes: the stable string hash of the project (block text hashes; the
// in-process group block content hash uses the faster common/hash64.hpp). Pure, no state;
// chain calls by passing the previous result as `h`.
#include <cstdint>
#include <string_view>

namespace orch::common {

inline constexpr std::uint64_t fnv1a_offset_basis = 14695981039346656037ULL;

constexpr std::uint64_t fnv1a(std::string_view s, std::uint64_t h = fnv1a_offset_basis) {
  for (char ch : s) {
    h ^= static_cast<unsigned char>(ch);
    h *= 1099511628211ULL;
  }
  return h;
}

}  // namespace orch::common
