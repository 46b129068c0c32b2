#include "tools/fake-letta/conversations.hpp"

// GCC 12 reports Boost.Asio's coroutine frame allocator as a mismatched new/delete here (a
// known false positive for awaitable frames); the frames are Asio's own.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"
#endif

#include <algorithm>

#include "workers/letta_codec.hpp"
#include "workers/letta_conversation_codec.hpp"

namespace fake_letta {

namespace http = boost::beast::http;
using orch::workers::json_quote;
using orch::workers::query_param;

std::string fake_reply_text(const std::string& agent, const std::string& last) {
  return agent + " hears you: " + last.substr(0, std::min<std::size_t>(40, last.size()));
}

std::string letta_response_body(const std::string& text) {
  return "{\"messages\":[{\"id\":\"message-1\",\"message_type\":\"reasoning_message\",\"reasoning\":\"fake\"},"
         "{\"id\":\"message-2\",\"message_type\":\"assistant_message\",\"content\":" +
         json_quote(text) +
         "}],\"stop_reason\":{\"message_type\":\"stop_reason\",\"stop_reason\":\"end_turn\"},"
         "\"usage\":{\"message_type\":\"usage_statistics\",\"completion_tokens\":1,\"prompt_tokens\":1,"
         "\"total_tokens\":2,\"step_count\":1}}";
}

void record_exchange(fake_state& st, std::vector<thread_message>& thread,
                     const std::vector<orch::workers::letta_message>& messages, const std::string& answer) {
  (void)st;
  for (const auto& m : messages)
    thread.push_back({"message-" + std::to_string(++st.message_seq),
                      m.role == "system" ? "system_message" : "user_message", m.content, m.otid});
  thread.push_back({"message-" + std::to_string(++st.message_seq), "assistant_message", answer, {}});
}

std::string thread_json(const std::vector<thread_message>& thread, const std::string& target) {
  const bool desc = query_param(target, "order") == "desc";
  std::size_t limit = thread.size();
  if (const auto l = query_param(target, "limit");
      !l.empty() && l.size() < 7 && std::all_of(l.begin(), l.end(), [](char c) { return c >= '0' && c <= '9'; }))
    limit = std::min<std::size_t>(limit, std::stoul(l));
  std::vector<const thread_message*> out;
  if (desc)
    for (auto it = thread.rbegin(); it != thread.rend() && out.size() < limit; ++it) out.push_back(&*it);
  else
    for (auto it = thread.begin(); it != thread.end() && out.size() < limit; ++it) out.push_back(&*it);
  std::string body = "[";
  for (const auto* m : out) {
    if (body.size() > 1) body += ",";
    body += "{\"id\":" + json_quote(m->id) +
            ",\"date\":\"2026-01-01T00:00:00Z\",\"message_type\":" + json_quote(m->type) +
            ",\"content\":" + json_quote(m->content);
    if (!m->otid.empty()) body += ",\"otid\":" + json_quote(m->otid);
    body += "}";
  }
  return body + "]";
}

namespace {

std::string block_by_id_json(const std::string& id, const id_block& b) {
  return "{\"id\":" + json_quote(id) + ",\"label\":" + json_quote(b.label) + ",\"value\":" + json_quote(b.value) +
         ",\"limit\":5000}";
}

std::string conversation_json(const std::string& id, const conversation& c) {
  return orch::workers::write_conversation({id, c.agent, c.summary, c.blocks});
}

// Faults shared with the agent routes; nullopt: go on. "land_late" is left to the caller.
boost::asio::awaitable<std::optional<response>> apply_fault(const std::string& f, const request& rq, bool& close) {
  if (f == "429")
    co_return reply(rq, 429,
                    R"({"error":{"type":"llm_rate_limit","message":"Rate limited by provider","detail":"fake"}})");
  if (f == "503") co_return reply(rq, 503, detail("Service unavailable"));
  if (f == "409_retry_after") {
    auto r = reply(rq, 409, detail("Block was updated by another transaction. Please retry your request."));
    r.set(http::field::retry_after, "1");
    co_return r;
  }
  if (f == "drop") {
    close = true;
    co_return response{};
  }
  if (f == "timeout") {
    co_await sleep_for(std::chrono::seconds(120));
    close = true;
    co_return response{};
  }
  if (f == "slow") co_await sleep_for(std::chrono::milliseconds(1500));
  co_return std::nullopt;
}

}  // namespace

boost::asio::awaitable<std::optional<response>> handle_conversation_routes(fake_state& st, const request& rq,
                                                                           const std::vector<std::string>& parts,
                                                                           bool& close) {
  const std::string target(rq.target());
  const bool get = rq.method() == http::verb::get;
  const bool post = rq.method() == http::verb::post;
  // GET /v1/agents/{id}/messages: the agent's own thread.
  if (parts.size() == 4 && parts[1] == "agents" && parts[3] == "messages" && get) {
    st.record("agent_messages_list", parts[2]);
    if (!st.agent_exists(parts[2])) co_return reply(rq, 404, detail("Agent " + parts[2] + " not found"));
    co_await sleep_for(st.latency);
    co_return reply(rq, 200, thread_json(st.agent_threads[parts[2]], target));
  }
  if (parts.size() == 3 && parts[1] == "blocks") {
    const std::string& id = parts[2];
    auto it = st.id_blocks.find(id);
    st.record(get ? "block_id_get" : "block_id_update", it == st.id_blocks.end() ? "" : it->second.agent);
    if (it == st.id_blocks.end()) co_return reply(rq, 404, detail("Block " + id + " not found"));
    if (auto f = st.take_fault(it->second.agent, false))
      if (auto r = co_await apply_fault(*f, rq, close)) co_return std::move(*r);
    const std::string conv = it->second.conversation;
    st.enter_conversation(conv);
    co_await sleep_for(st.latency);
    st.leave_conversation(conv);
    it = st.id_blocks.find(id);
    if (get) co_return reply(rq, 200, block_by_id_json(id, it->second));
    if (rq.method() != http::verb::patch) co_return reply(rq, 405, detail("Method Not Allowed"));
    auto v = orch::workers::parse_block_update_body(rq.body());
    if (!v) co_return reply(rq, 422, detail("value: expected a string"));
    it->second.value = *v;
    co_return reply(rq, 200, block_by_id_json(id, it->second));
  }
  if (parts.size() < 2 || parts[1] != "conversations") co_return std::nullopt;
  if (parts.size() == 2) {  // list or create
    const std::string agent = query_param(target, "agent_id");
    st.record(get ? "conversation_list" : "conversation_create", agent);
    if (!st.agent_exists(agent)) co_return reply(rq, 404, detail("Agent " + agent + " not found"));
    if (auto f = st.take_fault(agent, false))
      if (auto r = co_await apply_fault(*f, rq, close)) co_return std::move(*r);
    co_await sleep_for(st.latency);
    if (get) {
      const std::string search = query_param(target, "summary_search");
      std::vector<orch::workers::letta_conversation> matching;
      for (const auto& [id, c] : st.conversations)
        if (c.agent == agent && c.summary.find(search) != std::string::npos)
          matching.push_back({id, c.agent, c.summary, c.blocks});
      co_return reply(rq, 200, orch::workers::write_conversation_page(std::move(matching), target));
    }
    if (!post) co_return reply(rq, 405, detail("Method Not Allowed"));
    auto create = orch::workers::parse_create_conversation_body(rq.body());
    if (!create) co_return reply(rq, 422, detail("expected a CreateConversation object"));
    const std::string id = "conv-" + std::to_string(++st.conversation_seq);
    conversation c{agent, create->summary, {}, {}};
    for (const auto& label : create->isolated_block_labels) {
      const std::string bid = "block-" + std::to_string(++st.block_seq);
      auto shared = st.blocks.find({agent, label});
      st.id_blocks[bid] = {agent, label, shared == st.blocks.end() ? std::string() : shared->second, id};
      c.blocks.push_back(bid);
    }
    auto body = conversation_json(id, c);
    st.conversations[id] = std::move(c);
    co_return reply(rq, 200, body);
  }
  if (parts.size() != 4 || parts[3] != "messages") co_return reply(rq, 404, detail("Not Found"));
  const std::string id = parts[2];
  auto it = st.conversations.find(id);
  st.record(get ? "conversation_messages_list" : "conversation_messages",
            it == st.conversations.end() ? "" : it->second.agent);
  if (it == st.conversations.end()) co_return reply(rq, 404, detail("Conversation " + id + " not found"));
  const std::string agent = it->second.agent;
  std::optional<std::string> f = st.take_fault(agent, post);
  if (f && *f != "land_late")
    if (auto r = co_await apply_fault(*f, rq, close)) co_return std::move(*r);
  if (get) {
    st.enter_conversation(id);
    co_await sleep_for(st.latency);
    st.leave_conversation(id);
    co_return reply(rq, 200, thread_json(st.conversations[id].thread, target));
  }
  if (!post) co_return reply(rq, 405, detail("Method Not Allowed"));
  if (st.enter_conversation(id) > 1) {
    st.conversation_violation();
    st.leave_conversation(id);
    co_return reply(rq, 409,
                    "{\"detail\":\"Cannot send a new message: Another request is currently being processed for this "
                    "conversation.\",\"run_id\":\"run-fake\"}");
  }
  auto ms = orch::workers::parse_messages_body(rq.body());
  if (!ms) {
    st.leave_conversation(id);
    co_return reply(rq, 422, detail("messages: expected a non-empty list of MessageCreate"));
  }
  const std::string text = fake_reply_text(agent, ms->back().content);
  if (f && *f == "land_late") {  // the step runs and lands now; the answer comes too late
    record_exchange(st, st.conversations[id].thread, *ms, text);
    ++st.steps[id];
    st.leave_conversation(id);
    co_await sleep_for(st.land_late_delay);
    co_return reply(rq, 200, letta_response_body(text));
  }
  co_await sleep_for(st.latency);
  st.leave_conversation(id);
  record_exchange(st, st.conversations[id].thread, *ms, text);
  ++st.steps[id];
  for (const auto& m : *ms)
    if (!m.otid.empty()) st.answered_200(m.otid);
  co_return reply(rq, 200, letta_response_body(text));
}

}  // namespace fake_letta
