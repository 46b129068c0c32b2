// Unit tests of the common/ library: union-find, percentiles, FNV-1a.
#include <doctest/doctest.h>

#include "common/fnv1a.hpp"
#include "common/percentile.hpp"
#include "common/union_find.hpp"

using namespace orch::common;

TEST_CASE("union_find: sets join transitively and the root is the smallest index") {
  union_find u(6);
  CHECK(u.unite(4, 5));
  CHECK(u.unite(5, 2));
  CHECK_FALSE(u.unite(4, 2));  // already one set
  CHECK(u.find(4) == 2);
  CHECK(u.find(5) == 2);
  CHECK(u.find(0) == 0);
  CHECK(u.find(3) == 3);
  CHECK(u.unite(3, 0));
  CHECK(u.unite(0, 5));
  for (std::uint32_t i : {0U, 2U, 3U, 4U, 5U}) CHECK(u.find(i) == 0);
  CHECK(u.find(1) == 1);
  u.reset(3);  // reuse: every index alone again
  CHECK(u.size() == 3);
  for (std::uint32_t i = 0; i < 3; ++i) CHECK(u.find(i) == i);
}

TEST_CASE("nearest_rank: nearest-rank percentiles, clamped q, nothing for no samples") {
  const std::vector<double> v{1, 2, 3, 4, 5, 6, 7, 8, 9, 10};
  CHECK(*nearest_rank(v, 0.5) == 5);
  CHECK(*nearest_rank(v, 0.9) == 9);
  CHECK(*nearest_rank(v, 0.91) == 10);
  CHECK(*nearest_rank(v, 0.0) == 1);
  CHECK(*nearest_rank(v, 1.0) == 10);
  CHECK(*nearest_rank(v, 7.0) == 10);
  CHECK(*nearest_rank(v, -1.0) == 1);
  CHECK(*nearest_rank({42}, 0.99) == 42);
  CHECK_FALSE(nearest_rank({}, 0.5).has_value());
}

TEST_CASE("fnv1a: the published 64-bit test vectors, and chaining equals hashing the concatenation") {
  CHECK(fnv1a("") == 0xcbf29ce484222325ULL);
  CHECK(fnv1a("a") == 0xaf63dc4c8601ec8cULL);
  CHECK(fnv1a("foobar") == 0x85944171f73967e8ULL);
  CHECK(fnv1a("bar", fnv1a("foo")) == fnv1a("foobar"));
  static_assert(fnv1a("a") == 0xaf63dc4c8601ec8cULL);
}
