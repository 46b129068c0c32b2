#pragma once
// Pure encoding and decoding of Letta's conversation bodies (openapi.json, Letta 0.16.7):
// CreateConversation, Conversation (one, or the bare array of a list),
// ConversationMessageRequest, the thread's messages (LettaMessage items with otids) and a
// block's label (BlockResponse). Shared by letta_discipline, letta_simulated, fake-letta and
// the contract tests. No I/O, no state; thread-safe. Parse failures return nullopt, never throw.
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "workers/letta_client.hpp"

namespace orch::workers {

// The summary that names the daemon's conversation of one game (found again after a restart).
std::string conversation_summary(std::string_view game_id);
// The block labels isolated per conversation.
const std::vector<std::string>& isolated_labels();

// Paths (ids percent-encoded).
std::string conversations_list_target(std::string_view agent_id, std::string_view summary);
// One page of an agent's conversations whose summary holds `summary`, oldest first, after the
// conversation `after` ("" = from the start).
std::string conversations_page_target(std::string_view agent_id, std::string_view summary, unsigned limit,
                                      std::string_view after);
// The prefix every daemon conversation's summary starts with.
std::string_view conversation_summary_prefix();
std::string conversations_create_target(std::string_view agent_id);
std::string conversation_messages_target(std::string_view conversation_id);
// GET of the thread's newest messages, newest first.
std::string conversation_recent_target(std::string_view conversation_id, unsigned limit);
std::string agent_recent_target(std::string_view agent_id, unsigned limit);
std::string block_id_target(std::string_view block_id);

// CreateConversation: {"summary": ..., "isolated_block_labels": [...]}.
std::string build_create_conversation_body(std::string_view summary, const std::vector<std::string>& labels);
// ConversationMessageRequest: the messages as in build_messages_body plus "streaming": false.
std::string build_conversation_messages_body(const std::vector<letta_message>& messages);

struct letta_conversation {
  std::string id;
  std::string agent_id;
  std::string summary;
  std::vector<std::string> isolated_block_ids;
};
std::optional<letta_conversation> parse_conversation(std::string_view body);
// CreateConversation read back (fake-letta, simulated backend): summary ("" when null) and
// the isolated labels; nullopt when the body is not a JSON object.
struct create_conversation_request {
  std::string summary;
  std::vector<std::string> isolated_block_labels;
};
std::optional<create_conversation_request> parse_create_conversation_body(std::string_view body);
// The value of `key` in a target's query string, percent-decoded; "" when absent.
std::string query_param(std::string_view target, std::string_view key);
std::optional<std::vector<letta_conversation>> parse_conversation_list(std::string_view body);
// Writes a Conversation object (fake-letta, simulated backend).
std::string write_conversation(const letta_conversation& c);
// A list answer as Letta pages it (fake-letta, simulated backend): `matching` in any order;
// ids of one prefix and a growing number ("conv-9", "conv-10") sort in creation order. The
// target's `order` (default desc), `after` (the id after which the page starts, in that
// order) and `limit` (default 50) apply; the bare JSON array is returned.
std::string write_conversation_page(std::vector<letta_conversation> matching, std::string_view target);

// BlockResponse's label; nullopt when absent.
std::optional<std::string> parse_block_label(std::string_view body);

// From a thread's messages (an array of LettaMessage, newest first or last: `newest_first`),
// the assistant text that answered the user message with `otid`: the assistant messages that
// follow it (in time) up to the next user message. nullopt when that user message is not there
// or nothing answered it yet.
std::optional<letta_reply> reply_after_otid(std::string_view body, std::string_view otid, bool newest_first);

}  // namespace orch::workers
