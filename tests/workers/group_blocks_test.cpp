// Tests workers/group_blocks.cpp: block formats, update order, size limit and merging.
#include <doctest/doctest.h>

#include <algorithm>

#include <rapidjson/document.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include "workers/group_blocks.hpp"

using namespace orch::workers;
using S = std::vector<std::string>;

namespace {

rapidjson::Document parse(const std::string& s) {
  rapidjson::Document d;
  d.Parse(s.c_str());
  REQUIRE_FALSE(d.HasParseError());
  REQUIRE(d.IsObject());
  return d;
}

group_block two_members() {
  group_block b;
  b.members = {{"Diamond", "a tall avatar in a blue hoodie", "2025-01-26T07:01:56Z"},
               {"Kaiden", "A guard", "2025-01-26T07:01:57Z"}};
  push_updates(b.updates, membership_update_lines(S{"Diamond", "Kaiden"}, {}));
  b.last_updated = iso8601(1737874917);
  return b;
}

}  // namespace

TEST_CASE("group blocks: group_members has members, summary, updates and last_updated") {
  auto d = parse(render_group_members(two_members()));
  CHECK(std::string(d["summary"].GetString()) == "Current members: Diamond, Kaiden");
  CHECK(std::string(d["last_updated"].GetString()) == "2025-01-26T07:01:57Z");
  const auto& m = d["members"]["Diamond"];
  CHECK(std::string(m["name"].GetString()) == "Diamond");
  CHECK(std::string(m["appearance"].GetString()) == "a tall avatar in a blue hoodie");
  CHECK(std::string(m["last_seen"].GetString()) == "2025-01-26T07:01:56Z");
  CHECK(std::string(m["notes"].GetString()).empty());
  REQUIRE(d["updates"].Size() == 1);
  CHECK(std::string(d["updates"][0].GetString()) == "Diamond, Kaiden joined the group");
}

TEST_CASE("group blocks: newest 10 updates, newest first") {
  group_block b;
  for (int i = 0; i < 14; ++i) push_updates(b.updates, membership_update_lines({}, S{"P" + std::to_string(i)}));
  CHECK(b.updates.size() == 10);
  auto d = parse(render_group_members(b));
  REQUIRE(d["updates"].Size() == 10);
  CHECK(std::string(d["updates"][0].GetString()) == "P13 left the group");
  CHECK(std::string(d["updates"][9].GetString()) == "P4 left the group");
  // One change with joins and leaves: the departure line is the newer one.
  push_updates(b.updates, membership_update_lines(S{"A"}, S{"B"}));
  CHECK(b.updates[0] == "B left the group");
  CHECK(b.updates[1] == "A joined the group");
}

TEST_CASE("group blocks: text stays under the limit, trimming updates then appearances") {
  group_block b;
  for (int i = 0; i < 30; ++i)
    b.members.push_back({"Member" + std::to_string(i), std::string(150, 'x'), "2025-01-26T07:01:56Z"});
  for (int i = 0; i < 10; ++i) b.updates.push_back(std::string(60, 'u'));
  const auto text = render_group_members(b);
  CHECK(text.size() < group_block_limit);
  auto d = parse(text);
  CHECK(d["updates"].Size() == 0);  // all updates went before any appearance
  CHECK(d["members"].MemberCount() == 30);
  CHECK(std::string(d["members"]["Member0"]["appearance"].GetString()) == std::string(150, 'x'));
  // Smaller: only the oldest updates go.
  group_block small = two_members();
  for (int i = 0; i < 9; ++i) small.updates.push_back(std::string(40, 'v'));
  auto t2 = render_group_members(small, 600);
  CHECK(t2.size() < 600);
  auto d2 = parse(t2);
  CHECK(d2["updates"].Size() < 10);
  CHECK(std::string(d2["updates"][0].GetString()) == "Diamond, Kaiden joined the group");
}

TEST_CASE("group blocks: hash ignores timestamps but not members, appearances or updates") {
  auto a = two_members();
  auto b = a;
  b.last_updated = iso8601(1);
  b.members[0].last_seen = iso8601(2);
  CHECK(group_block_hash(a) == group_block_hash(b));
  b.members[0].appearance = "a red cap";
  CHECK(group_block_hash(a) != group_block_hash(b));
  auto c = a;
  c.updates.insert(c.updates.begin(), "X left the group");
  CHECK(group_block_hash(a) != group_block_hash(c));
}

TEST_CASE("group blocks: hash keeps fields apart - name/appearance split, members vs updates, order") {
  group_block a;
  a.members = {{"Ann", "", ""}};
  group_block b;
  b.members = {{"", "Ann", ""}};
  CHECK(group_block_hash(a) != group_block_hash(b));
  group_block c;
  c.updates = {"Ann"};
  group_block d;
  d.members = {{"Ann", "", ""}};
  d.updates = {""};
  CHECK(group_block_hash(c) != group_block_hash(a));
  CHECK(group_block_hash(d) != group_block_hash(a));
  auto e = two_members();
  auto f = e;
  std::swap(f.members[0], f.members[1]);
  CHECK(group_block_hash(e) != group_block_hash(f));
  CHECK(group_block_hash(e) == group_block_hash(two_members()));
}

TEST_CASE("group blocks: the hash from a kept updates hash equals the whole block's hash") {
  auto b = two_members();
  CHECK(group_block_hash(b) == group_block_hash(b.members, group_updates_hash(b.updates)));
  auto c = b;
  push_updates(c.updates, membership_update_lines({}, S{"Kaiden"}));
  CHECK(group_updates_hash(c.updates) != group_updates_hash(b.updates));
  CHECK(group_block_hash(c) == group_block_hash(c.members, group_updates_hash(c.updates)));
  CHECK(group_block_hash(c) != group_block_hash(b));
  CHECK(group_updates_hash({}) == group_updates_hash({}));
}

TEST_CASE("group blocks: merge keeps the NPC's notes and unknown keys - former members' notes kept") {
  auto first = merge_group_members(two_members(), "", 0, 0);
  CHECK_FALSE(first.npc_edited);
  // The NPC edits its block: notes on Diamond and Kaiden, and a key of its own.
  auto d = parse(first.text);
  auto& a = d.GetAllocator();
  d["members"]["Diamond"]["notes"].SetString("owes me 5 coins", a);
  d["members"]["Kaiden"]["notes"].SetString("grumpy", a);
  d.AddMember("mood", "cheerful", a);
  rapidjson::StringBuffer sb;
  rapidjson::Writer<rapidjson::StringBuffer> w(sb);
  d.Accept(w);
  const std::string edited = sb.GetString();

  group_block next = two_members();
  next.members.pop_back();  // Kaiden left
  push_updates(next.updates, membership_update_lines({}, S{"Kaiden"}));
  auto merged = merge_group_members(next, edited, first.text_hash, first.owned_hash);
  CHECK(merged.npc_edited);
  CHECK_FALSE(merged.conflict);  // only notes and an own key: nothing daemon-owned was touched
  auto m = parse(merged.text);
  CHECK(std::string(m["members"]["Diamond"]["notes"].GetString()) == "owes me 5 coins");
  CHECK(std::string(m["mood"].GetString()) == "cheerful");
  CHECK(std::string(m["notes_on_former_members"]["Kaiden"].GetString()) == "grumpy");
  CHECK_FALSE(m["members"].HasMember("Kaiden"));
  CHECK(std::string(m["updates"][0].GetString()) == "Kaiden left the group");

  // Unchanged since the daemon's own write: no merge counted, but its kept keys survive.
  auto again = merge_group_members(next, merged.text, merged.text_hash, merged.owned_hash);
  CHECK_FALSE(again.npc_edited);
  CHECK(parse(again.text).HasMember("mood"));
}

TEST_CASE("group blocks: an edit of daemon-owned fields is a conflict - non-JSON text is kept") {
  auto first = merge_group_members(two_members(), "", 0, 0);
  auto d = parse(first.text);
  d["summary"].SetString("I am alone", d.GetAllocator());
  rapidjson::StringBuffer sb;
  rapidjson::Writer<rapidjson::StringBuffer> w(sb);
  d.Accept(w);
  auto merged = merge_group_members(two_members(), sb.GetString(), first.text_hash, first.owned_hash);
  CHECK(merged.npc_edited);
  CHECK(merged.conflict);
  CHECK(std::string(parse(merged.text)["summary"].GetString()) == "Current members: Diamond, Kaiden");

  auto prose = merge_group_members(two_members(), "Diamond seems nice.", first.text_hash, first.owned_hash);
  CHECK(prose.conflict);
  CHECK(std::string(parse(prose.text)["npc_notes"].GetString()) == "Diamond seems nice.");
}

TEST_CASE("group blocks: status merge keeps the NPC's own lines after the fresh status line") {
  const std::string fresh = "health: 80 | location: Cafe | current_action: Idle";
  auto first = merge_status(fresh, "", 0);
  CHECK(first.text == fresh);
  auto kept =
      merge_status(fresh, "health: 100 | location: Park | current_action: Moving\nI feel tired", first.text_hash);
  CHECK(kept.npc_edited);
  CHECK_FALSE(kept.conflict);
  CHECK(kept.text == fresh + "\nI feel tired");
  auto replaced = merge_status(fresh, "sleeping", first.text_hash);
  CHECK(replaced.conflict);
  CHECK(replaced.text == fresh + "\nsleeping");
}

TEST_CASE("group blocks: iso8601") {
  CHECK(iso8601(0) == "1970-01-01T00:00:00Z");
  CHECK(iso8601(1737874917) == "2025-01-26T07:01:57Z");
}

TEST_CASE("group blocks: a 5 000-member cluster is trimmed under the limit, first names kept, '… and N more'") {
  group_block b;
  S names;
  for (int i = 0; i < 5000; ++i) {
    b.members.push_back({"Player" + std::to_string(i), "an avatar in a red hat", "2025-01-26T07:01:56Z"});
    names.push_back("Player" + std::to_string(i));
  }
  push_updates(b.updates, membership_update_lines(names, {}));  // one 45 KB update line
  b.last_updated = iso8601(1737874917);
  const auto text = render_group_members(b);
  CHECK(text.size() < group_block_limit);
  CHECK(text.size() > group_block_limit - 200);  // trimmed to the limit, not far below it
  auto d = parse(text);
  CHECK(d["updates"].Size() == 0);
  CHECK(d["members"].MemberCount() == 0);  // entries go before the summary is cut
  const std::string summary = d["summary"].GetString();
  REQUIRE(summary.rfind("Current members: Player0, Player1, ", 0) == 0);
  const auto tail = summary.rfind(", \xe2\x80\xa6 and ");
  REQUIRE(tail != std::string::npos);
  const auto listed = static_cast<int>(std::count(summary.begin(), summary.begin() + static_cast<long>(tail), ',')) + 1;
  const int more = std::stoi(summary.substr(tail + std::string(", \xe2\x80\xa6 and ").size()));
  CHECK(listed + more == 5000);
  CHECK(summary.find("Player" + std::to_string(listed - 1) + ",") != std::string::npos);  // in order

  // Merged with the NPC's notes on a member and a key of its own: still under the limit.
  const std::string current = R"({"members":{"Player0":{"notes":"owes me 5 gold"}},"mood":"wary"})";
  const auto m = merge_group_members(b, current, 0, 0);
  CHECK(m.text.size() < group_block_limit);
  auto dm = parse(m.text);
  CHECK(std::string(dm["mood"].GetString()) == "wary");
}

TEST_CASE("group blocks: long names - fewer members listed, every cut size under the limit") {
  for (std::size_t limit : {600u, 1000u, 2500u, 5000u}) {
    group_block b;
    for (int i = 0; i < 40; ++i)
      b.members.push_back({std::string(250, static_cast<char>('a' + i % 26)) + std::to_string(i), "", ""});
    const auto text = render_group_members(b, limit);
    CHECK(text.size() < limit);
    auto d = parse(text);
    const std::string summary = d["summary"].GetString();
    CHECK(summary.find(" more") != std::string::npos);
  }
  // A block that fits is not touched.
  const auto small = render_group_members(two_members());
  CHECK(parse(small)["summary"] == "Current members: Diamond, Kaiden");
}

// The group cache keeps its NPCs' update lines as update_lines (one buffer); the blocks and their
// hashes must be those push_updates and group_updates_hash give for the same pushes.
TEST_CASE("group blocks: update_lines pushed as push_updates pushes, with the same hash") {
  std::vector<std::string> reference;
  update_lines lines;
  CHECK(lines.hash() == group_updates_hash(reference));
  std::uint32_t x = 7;
  auto next = [&x] { return x = x * 1103515245U + 12345U; };
  for (int step = 0; step < 200; ++step) {
    INFO("step " << step);
    // 0..3 lines a push, now and then more than a block keeps (12), of varied lengths (empty too).
    std::vector<std::string> push;
    const std::size_t n = step % 37 == 5 ? 12 : next() % 4;
    for (std::size_t i = 0; i < n; ++i) push.push_back(std::string(next() % 40, static_cast<char>('a' + step % 26)));
    push_updates(reference, push);
    lines = lines.pushed(push);
    REQUIRE(lines.size() == reference.size());
    CHECK(lines.to_vector() == reference);
    for (std::size_t i = 0; i < lines.size(); ++i) CHECK(lines[i] == reference[i]);
    CHECK(lines.hash() == group_updates_hash(reference));
  }
  CHECK(reference.size() == group_block_max_updates);  // the cap was reached and held
}
