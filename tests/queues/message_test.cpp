// queues/message: a payload comes back only as the type it was stored with.
#include <doctest/doctest.h>

#include <memory>
#include <string>

#include "queues/message.hpp"

using orch::queues::message;
using orch::queues::payload_ref;

namespace {
struct first_kind {
  int value = 0;
};
struct second_kind {
  std::string text;
};
}  // namespace

TEST_CASE("payload_ref: as<T> gives the stored object for its own type and null for any other") {
  message m;
  CHECK_FALSE(m.payload);
  CHECK(m.payload.as<first_kind>() == nullptr);
  auto p = std::make_shared<first_kind>(first_kind{7});
  m.payload = p;
  REQUIRE(m.payload);
  CHECK(m.payload.as<first_kind>() == p);
  CHECK(m.payload.as<const first_kind>()->value == 7);  // const access to the same object
  CHECK(m.payload.as<second_kind>() == nullptr);        // another type: null, never a bad cast
  CHECK(m.payload.as<int>() == nullptr);
}

TEST_CASE("payload_ref: a payload stored as const comes back as const or not, moves keep the tag") {
  std::shared_ptr<const second_kind> c = std::make_shared<second_kind>(second_kind{"hello"});
  message m;
  m.payload = c;
  CHECK(m.payload.as<const second_kind>()->text == "hello");
  CHECK(m.payload.as<second_kind>().get() == c.get());
  message moved = std::move(m);
  CHECK(moved.payload.as<second_kind>()->text == "hello");
  CHECK(moved.payload.as<first_kind>() == nullptr);
  moved.payload = nullptr;
  CHECK_FALSE(moved.payload);
  CHECK(moved.payload.as<second_kind>() == nullptr);
  m.payload = std::shared_ptr<first_kind>();  // an empty pointer of a type is no payload
  CHECK_FALSE(m.payload);
}
