#include "workers/letta_simulated.hpp"

#include <algorithm>
#include <memory>
#include <string>

#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>

#include "workers/letta_codec.hpp"
#include "workers/letta_conversation_codec.hpp"

namespace orch::workers {

letta_simulated::letta_simulated(boost::asio::io_context& io, std::chrono::milliseconds latency,
                                 std::optional<std::chrono::milliseconds> block_latency)
    : io_(io), latency_(latency), block_latency_(block_latency.value_or(latency)) {}

static std::string detail_body(std::string_view text) { return "{\"detail\":" + json_quote(text) + "}"; }

static std::string block_body(const std::string& agent, const std::string& label, const std::string& value,
                              std::uint64_t id) {
  return "{\"id\":\"block-sim-" + std::to_string(id) + "\",\"label\":" + json_quote(label) +
         ",\"value\":" + json_quote(value) + ",\"limit\":5000,\"agent_id\":" + json_quote(agent) + "}";
}

// Called with mu_ held.
transport_response letta_simulated::answer(const transport_request& req) {
  transport_response r;
  if (fail_count_ > 0) {
    --fail_count_;
    r.status = fail_status_;
    if (fail_status_ == 0)
      r.error = "timeout";
    else
      r.body = detail_body("simulated failure");
    return r;
  }
  if (!req.block_id.empty() &&
      (req.endpoint == letta_endpoint::block_get || req.endpoint == letta_endpoint::block_update)) {
    auto it = id_blocks_.find(req.block_id);
    if (it == id_blocks_.end()) {
      r.status = 404;
      r.body = detail_body("Block not found");
      return r;
    }
    if (req.endpoint == letta_endpoint::block_update) {
      auto v = parse_block_update_body(req.body);
      if (!v) {
        r.status = 422;
        r.body = detail_body("value: expected a string");
        return r;
      }
      it->second.value = std::move(*v);  // moved: the stored buffer fits this value, not the longest one
      it->second.written = ++block_seq_;
      ++block_writes_;
    }
    r.status = 200;
    r.body = "{\"id\":" + json_quote(it->first) + ",\"label\":" + json_quote(it->second.label) +
             ",\"value\":" + json_quote(it->second.value) + ",\"limit\":5000}";
    return r;
  }
  switch (req.endpoint) {
    case letta_endpoint::conversation_list: {
      const std::string agent = query_param(req.target, "agent_id");
      const std::string search = query_param(req.target, "summary_search");
      std::vector<letta_conversation> matching;
      for (const auto& [id, c] : conversations_)
        if (c.agent == agent && c.summary.find(search) != std::string::npos)
          matching.push_back({id, c.agent, c.summary, c.blocks});
      r.status = 200;
      r.body = write_conversation_page(std::move(matching), req.target);
      break;
    }
    case letta_endpoint::conversation_create: {
      auto create = parse_create_conversation_body(req.body);
      if (!create) {
        r.status = 422;
        r.body = detail_body("expected a CreateConversation object");
        break;
      }
      const std::string id = "conv-sim-" + std::to_string(++conversation_seq_);
      sim_conversation c{req.agent_id, create->summary, {}};
      for (const auto& label : create->isolated_block_labels) {
        const std::string bid = "block-sim-c" + std::to_string(++block_seq_);
        auto agent_block = blocks_.find({req.agent_id, label});
        id_blocks_[bid] = {req.agent_id, label, agent_block == blocks_.end() ? std::string() : agent_block->second, 0};
        c.blocks.push_back(bid);
      }
      r.status = 200;
      r.body = write_conversation({id, c.agent, c.summary, c.blocks});
      conversations_[id] = std::move(c);
      break;
    }
    case letta_endpoint::messages_list:
      r.status = 200;
      r.body = "[]";  // the simulated backend keeps no thread: a timed-out message is resent
      break;
    case letta_endpoint::health:
      r.status = 200;
      r.body = R"({"version":"0.16.7-simulated","status":"ok"})";
      break;
    case letta_endpoint::agent_get:
      r.status = 200;
      r.body = "{\"id\":" + json_quote(req.agent_id) + ",\"name\":" + json_quote(req.agent_id) + "}";
      break;
    case letta_endpoint::block_get: {
      auto it = blocks_.find({req.agent_id, req.label});
      if (it == blocks_.end()) {
        r.status = 404;
        r.body = detail_body("Block with label '" + req.label + "' not found");
      } else {
        r.status = 200;
        r.body = block_body(req.agent_id, req.label, it->second, ++block_seq_);
      }
      break;
    }
    case letta_endpoint::block_update: {
      auto v = parse_block_update_body(req.body);
      if (!v) {
        r.status = 422;
        r.body = detail_body("value: expected a string");
        break;
      }
      auto& stored = blocks_[{req.agent_id, req.label}];
      stored = std::move(*v);
      ++block_writes_;
      r.status = 200;
      r.body = block_body(req.agent_id, req.label, stored, ++block_seq_);
      break;
    }
    case letta_endpoint::messages: {
      auto ms = parse_messages_body(req.body);
      if (!ms) {
        r.status = 422;
        r.body = detail_body("messages: expected a non-empty list");
        break;
      }
      const std::string& last = ms->back().content;
      std::string text = req.agent_id + " hears you: " + last.substr(0, std::min<std::size_t>(40, last.size()));
      // Token use estimated at ~4 bytes a token: the request's text as the prompt's new part,
      // the answer as the completion.
      std::size_t in_bytes = 0;
      for (const auto& m : *ms) in_bytes += m.content.size() + m.name.size();
      const std::size_t prompt = in_bytes / 4 + 1, completion = text.size() / 4 + 1;
      r.status = 200;
      r.body = "{\"messages\":[{\"id\":\"message-sim\",\"message_type\":\"assistant_message\",\"content\":" +
               json_quote(text) +
               "}],\"stop_reason\":{\"message_type\":\"stop_reason\",\"stop_reason\":\"end_turn\"},"
               "\"usage\":{\"message_type\":\"usage_statistics\",\"completion_tokens\":" +
               std::to_string(completion) + ",\"prompt_tokens\":" + std::to_string(prompt) +
               ",\"total_tokens\":" + std::to_string(prompt + completion) + ",\"step_count\":1}}";
      break;
    }
  }
  return r;
}

// The lane a request belongs to: its conversation, or its agent. A conversation's lookup and
// creation come before its id is known: each is its own lane (one per game's summary).
static std::string lane_of(const transport_request& req) {
  if (!req.conversation_id.empty()) return req.conversation_id;
  if (req.endpoint == letta_endpoint::conversation_list || req.endpoint == letta_endpoint::conversation_create)
    return req.agent_id + "#" + req.target + req.body;
  return req.agent_id;
}

void letta_simulated::execute(transport_request req, response_fn cb) {
  {
    std::lock_guard lk(mu_);
    ++requests_;
    if (!req.agent_id.empty()) max_concurrent_ = std::max(max_concurrent_, ++busy_[lane_of(req)]);
  }
  auto timer = std::make_shared<boost::asio::steady_timer>(
      io_, req.endpoint == letta_endpoint::messages ? latency_ : block_latency_);
  timer->async_wait([this, self = shared_from_this(), timer, req = std::move(req),
                     cb = std::move(cb)](const boost::system::error_code&) {
    transport_response r;
    {
      // The answer is computed when the latency has passed, as a server would at the end of
      // its work; writes become visible then.
      std::lock_guard lk(mu_);
      r = answer(req);
      if (!req.agent_id.empty()) --busy_[lane_of(req)];
    }
    cb(std::move(r));
  });
}

void letta_simulated::npc_edit(const std::string& agent_id, const std::string& label, std::string new_value) {
  std::lock_guard lk(mu_);
  blocks_[{agent_id, label}] = std::move(new_value);
}

std::optional<std::string> letta_simulated::block(const std::string& agent_id, const std::string& label) const {
  std::lock_guard lk(mu_);
  auto it = blocks_.find({agent_id, label});
  if (it != blocks_.end()) return it->second;
  const sim_block* latest = nullptr;
  for (const auto& [id, b] : id_blocks_)
    if (b.agent == agent_id && b.label == label && b.written != 0 && (!latest || b.written > latest->written))
      latest = &b;
  if (!latest) return std::nullopt;
  return latest->value;
}

std::optional<std::string> letta_simulated::game_block(const std::string& agent_id, const std::string& game_id,
                                                       const std::string& label) const {
  std::lock_guard lk(mu_);
  const std::string summary = conversation_summary(game_id);
  for (const auto& [id, c] : conversations_) {
    if (c.agent != agent_id || c.summary != summary) continue;
    for (const auto& bid : c.blocks) {
      auto b = id_blocks_.find(bid);
      if (b != id_blocks_.end() && b->second.label == label) return b->second.value;
    }
  }
  return std::nullopt;
}

std::size_t letta_simulated::conversations() const {
  std::lock_guard lk(mu_);
  return conversations_.size();
}

void letta_simulated::fail_next(std::uint32_t n, int status) {
  std::lock_guard lk(mu_);
  fail_count_ = n;
  fail_status_ = status;
}

std::uint64_t letta_simulated::requests() const {
  std::lock_guard lk(mu_);
  return requests_;
}

std::uint32_t letta_simulated::max_concurrent_per_agent() const {
  std::lock_guard lk(mu_);
  return max_concurrent_;
}

std::uint64_t letta_simulated::block_writes() const {
  std::lock_guard lk(mu_);
  return block_writes_;
}

}  // namespace orch::workers
