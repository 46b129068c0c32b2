// Unit tests of common/hash64.hpp: equal inputs hash equal, distinct inputs differ, chaining
// is unambiguous, every length around the 8-byte word boundary counts.
#include <doctest/doctest.h>

#include <set>
#include <string>

#include "common/hash64.hpp"

using namespace orch::common;

TEST_CASE("hash64: equal inputs equal, stable across calls, copies hash the same") {
  const std::string a = "Diamond, Kaiden joined the group";
  const std::string b = a;  // a distinct buffer with the same bytes
  CHECK(hash64(a) == hash64(a));
  CHECK(hash64(a) == hash64(b));
  CHECK(hash64(a, 7) == hash64(b, 7));
  CHECK(hash64("") == hash64(std::string_view{}));
}

TEST_CASE("hash64: distinct inputs differ - one bit, tail bytes, trailing zero bytes, seeds") {
  CHECK(hash64("a") != hash64("b"));
  CHECK(hash64("") != hash64(std::string_view("\0", 1)));
  CHECK(hash64(std::string_view("abc", 3)) != hash64(std::string_view("abc\0", 4)));
  CHECK(hash64("abcdefgh") != hash64("abcdefgi"));
  CHECK(hash64("abcdefghX") != hash64("abcdefghY"));
  CHECK(hash64("x", 1) != hash64("x", 2));
  // Every prefix of a 40-byte string, each with a flipped last byte: all distinct.
  const std::string s = "A townsperson with a lantern, and a cap";
  std::set<std::uint64_t> seen;
  for (std::size_t n = 0; n <= s.size(); ++n) {
    seen.insert(hash64(std::string_view(s).substr(0, n)));
    if (n > 0) {
      auto t = s.substr(0, n);
      t.back() = static_cast<char>(t.back() ^ 1);
      seen.insert(hash64(t));
    }
  }
  CHECK(seen.size() == 2 * s.size() + 1);
}

TEST_CASE("hash64: chaining is unambiguous - the split between pieces counts") {
  CHECK(hash64("c", hash64("ab")) != hash64("bc", hash64("a")));
  CHECK(hash64("", hash64("abc")) != hash64("abc", hash64("")));
  CHECK(hash64("bar", hash64("foo")) == hash64("bar", hash64("foo")));
}
