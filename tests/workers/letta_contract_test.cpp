// Contract tests: the bodies the client builds validate against Letta's own OpenAPI schemas
// (openapi.json, Letta 0.16.7), and LettaResponse-shaped answers parse to text and tool calls.
#include <doctest/doctest.h>

#include <fstream>
#include <sstream>

#include <rapidjson/document.h>
#include <rapidjson/schema.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include "workers/letta_codec.hpp"
#include "workers/letta_conversation_codec.hpp"

using namespace orch::workers;

namespace {

const std::string& spec_text() {
  static const std::string text = [] {
    std::ifstream f(ORCH_SHARED_DIR "/letta-api/openapi.json");
    std::stringstream ss;
    ss << f.rdbuf();
    return ss.str();
  }();
  return text;
}

// The whole spec as one schema document whose root refers to one of its schemas (RapidJSON 1.1
// cannot follow a $ref into another document).
std::string validate(const std::string& schema_name, const std::string& body) {
  rapidjson::Document spec;
  spec.Parse(spec_text().c_str());
  REQUIRE_FALSE(spec.HasParseError());
  const std::string ref = "#/components/schemas/" + schema_name;
  spec.AddMember("$ref", rapidjson::Value(ref.c_str(), spec.GetAllocator()), spec.GetAllocator());
  rapidjson::SchemaDocument schema(spec);
  rapidjson::Document doc;
  doc.Parse(body.c_str());
  REQUIRE_FALSE(doc.HasParseError());
  rapidjson::SchemaValidator v(schema);
  if (doc.Accept(v)) return {};
  rapidjson::StringBuffer sb;
  v.GetInvalidSchemaPointer().StringifyUriFragment(sb);
  return std::string("invalid at ") + sb.GetString() + " keyword " + v.GetInvalidSchemaKeyword();
}

}  // namespace

TEST_CASE("contract: messages body validates against LettaStreamingRequest and MessageCreate") {
  REQUIRE(spec_text().size() > 100000);
  std::vector<letta_message> ms{{"user", "Hello \"Pete\" — ça va?", "Alice", "otid-1"},
                                {"system", "[SYSTEM] Bob has entered your range.", "", "otid-2"}};
  const std::string body = build_messages_body(ms);
  CHECK(validate("LettaStreamingRequest", body) == "");
  rapidjson::Document d;
  d.Parse(body.c_str());
  REQUIRE(d["messages"].IsArray());
  CHECK(d["use_assistant_message"].GetBool());
  CHECK_FALSE(d.HasMember("streaming"));
  CHECK_FALSE(d["messages"][1].HasMember("name"));  // omitted when empty
  for (auto& m : d["messages"].GetArray()) {
    rapidjson::StringBuffer sb;
    rapidjson::Writer<rapidjson::StringBuffer> w(sb);
    m.Accept(w);
    CHECK(validate("MessageCreate", sb.GetString()) == "");
  }
  // The validator does reject what Letta would: a bad role fails MessageCreate.
  CHECK(validate("MessageCreate", R"({"role":"npc","content":"x"})") != "");
  // Round trip through the reader fake-letta and the simulated backend use.
  auto back = parse_messages_body(body);
  REQUIRE(back.has_value());
  REQUIRE(back->size() == 2);
  CHECK((*back)[0].content == "Hello \"Pete\" — ça va?");
  CHECK((*back)[0].name == "Alice");
  CHECK((*back)[1].otid == "otid-2");
}

TEST_CASE("contract: block update body validates against BlockUpdate") {
  const std::string body = build_block_update_body("{\"members\":{},\"summary\":\"Current members: A\"}");
  CHECK(validate("BlockUpdate", body) == "");
  CHECK(validate("BlockUpdate", R"({"value":5})") != "");
  CHECK(parse_block_update_body(body) ==
        std::optional<std::string>("{\"members\":{},\"summary\":\"Current members: A\"}"));
}

TEST_CASE("contract: LettaResponse parses to text and tool calls") {
  const std::string resp = R"({
    "messages": [
      {"id":"message-1","date":"2025-01-01T00:00:00Z","message_type":"reasoning_message","reasoning":"The player greets me."},
      {"id":"message-2","date":"2025-01-01T00:00:00Z","message_type":"tool_call_message",
       "tool_call":{"name":"core_memory_append","arguments":"{\"label\":\"human\",\"content\":\"likes tea\"}","tool_call_id":"call-1"}},
      {"id":"message-3","date":"2025-01-01T00:00:00Z","message_type":"tool_return_message","tool_return":"ok","status":"success","tool_call_id":"call-1"},
      {"id":"message-4","date":"2025-01-01T00:00:00Z","message_type":"assistant_message","content":"Welcome to the Cafe!"},
      {"id":"message-5","date":"2025-01-01T00:00:00Z","message_type":"assistant_message",
       "content":[{"type":"text","text":"Tea is "},{"type":"text","text":"on the house."}]}
    ],
    "stop_reason": {"message_type":"stop_reason","stop_reason":"end_turn"},
    "usage": {"message_type":"usage_statistics","completion_tokens":10,"prompt_tokens":100,"total_tokens":110,"step_count":1}
  })";
  // LettaMessageUnion is a oneOf told apart by a discriminator and `const`, which draft-04
  // RapidJSON ignores, so the example is checked message by message against each type's schema.
  {
    rapidjson::Document ex;
    ex.Parse(resp.c_str());
    const char* kinds[] = {"ReasoningMessage", "ToolCallMessage", "ToolReturnMessage", "AssistantMessage",
                           "AssistantMessage"};
    for (rapidjson::SizeType i = 0; i < 5; ++i) {
      rapidjson::StringBuffer sb;
      rapidjson::Writer<rapidjson::StringBuffer> w(sb);
      ex["messages"][i].Accept(w);
      CHECK(validate(kinds[i], sb.GetString()) == "");
    }
    for (auto [name, key] : {std::pair{"LettaStopReason", "stop_reason"}, std::pair{"LettaUsageStatistics", "usage"}}) {
      rapidjson::StringBuffer sb;
      rapidjson::Writer<rapidjson::StringBuffer> w(sb);
      ex[key].Accept(w);
      CHECK(validate(name, sb.GetString()) == "");
    }
  }
  letta_reply r;
  REQUIRE(parse_letta_response(resp, r));
  CHECK(r.text == "Welcome to the Cafe!\nTea is on the house.");
  REQUIRE(r.tool_calls.size() == 1);
  CHECK(r.tool_calls[0].name == "core_memory_append");
  CHECK(r.tool_calls[0].arguments == "{\"label\":\"human\",\"content\":\"likes tea\"}");
  CHECK_FALSE(parse_letta_response("{\"detail\":\"Agent not found\"}", r));
  CHECK_FALSE(parse_letta_response("[[[[", r));
  CHECK(parse_block_value(R"({"id":"block-1","label":"status","value":"health: 100","limit":5000})") ==
        std::optional<std::string>("health: 100"));
}

TEST_CASE("contract: request paths") {
  CHECK(messages_target("agent-123") == "/v1/agents/agent-123/messages");
  CHECK(block_target("agent-123", "group_members") == "/v1/agents/agent-123/core-memory/blocks/group_members");
  CHECK(block_target("agent-1", "a b/c") == "/v1/agents/agent-1/core-memory/blocks/a%20b%2Fc");
  CHECK(agent_target("agent-1") == "/v1/agents/agent-1");
  CHECK(health_target() == "/v1/health/");
}

TEST_CASE(
    "contract: conversation bodies validate against CreateConversation, ConversationMessageRequest, Conversation") {
  const std::string create = build_create_conversation_body(conversation_summary("game-7"), isolated_labels());
  CHECK(validate("CreateConversation", create) == "");
  CHECK(validate("CreateConversation", R"({"isolated_block_labels":"group_members"})") != "");
  auto back = parse_create_conversation_body(create);
  REQUIRE(back);
  CHECK(back->summary == "npc-orchestrator game game-7");
  CHECK(back->isolated_block_labels == std::vector<std::string>{"group_members", "status"});

  std::vector<letta_message> ms{{"user", "Hi Pete", "Alice", "otid-1"}};
  const std::string send = build_conversation_messages_body(ms);
  CHECK(validate("ConversationMessageRequest", send) == "");
  rapidjson::Document d;
  d.Parse(send.c_str());
  REQUIRE(d.HasMember("streaming"));
  CHECK(d["streaming"].IsFalse());
  CHECK(parse_messages_body(send)->front().otid == "otid-1");

  // What the simulated backend and fake-letta answer is a Conversation, and it reads back.
  const std::string conv = write_conversation({"conv-1", "agent-1", "npc-orchestrator game g", {"block-1", "block-2"}});
  CHECK(validate("Conversation", conv) == "");
  auto c = parse_conversation(conv);
  REQUIRE(c);
  CHECK(c->id == "conv-1");
  CHECK(c->isolated_block_ids == std::vector<std::string>{"block-1", "block-2"});
  auto list = parse_conversation_list("[" + conv + "]");
  REQUIRE(list);
  REQUIRE(list->size() == 1);
  CHECK_FALSE(parse_conversation_list(conv));  // a list is a bare array
  CHECK(parse_block_label(R"({"id":"block-1","label":"group_members","value":"{}","limit":5000})") ==
        std::optional<std::string>("group_members"));
}

TEST_CASE("contract: a thread's messages validate against UserMessage and AssistantMessage") {
  const std::string thread =
      R"([{"id":"message-2","date":"2026-01-01T00:00:00Z","message_type":"assistant_message","content":"Hello!"},)"
      R"({"id":"message-1","date":"2026-01-01T00:00:00Z","message_type":"user_message","content":"Hi","otid":"otid-9"}])";
  rapidjson::Document d;
  d.Parse(thread.c_str());
  const char* kinds[] = {"AssistantMessage", "UserMessage"};
  for (rapidjson::SizeType i = 0; i < 2; ++i) {
    rapidjson::StringBuffer sb;
    rapidjson::Writer<rapidjson::StringBuffer> w(sb);
    d[i].Accept(w);
    CHECK(validate(kinds[i], sb.GetString()) == "");
  }
  auto r = reply_after_otid(thread, "otid-9", true);
  REQUIRE(r);
  CHECK(r->text == "Hello!");
}

TEST_CASE("contract: conversation paths") {
  CHECK(conversations_list_target("agent-1", "npc-orchestrator game g 1") ==
        "/v1/conversations/?agent_id=agent-1&summary_search=npc-orchestrator%20game%20g%201");
  CHECK(conversations_create_target("agent-1") == "/v1/conversations/?agent_id=agent-1");
  CHECK(conversation_messages_target("conv-1") == "/v1/conversations/conv-1/messages");
  CHECK(conversation_recent_target("conv-1", 20) == "/v1/conversations/conv-1/messages?order=desc&limit=20");
  CHECK(agent_recent_target("agent-1", 20) == "/v1/agents/agent-1/messages?order=desc&limit=20");
  CHECK(block_id_target("block-1") == "/v1/blocks/block-1");
}
