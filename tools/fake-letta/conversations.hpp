#pragma once
// fake-letta's per-game conversation routes (Letta 0.16.7, openapi.json):
//   GET  /v1/conversations/?agent_id=&summary_search=   a bare array of Conversation
//   POST /v1/conversations/?agent_id=                    CreateConversation -> Conversation
//   POST /v1/conversations/{id}/messages                 ConversationMessageRequest -> LettaResponse
//   GET  /v1/conversations/{id}/messages?order=&limit=   the thread (LettaMessage, with otids)
//   GET|PATCH /v1/blocks/{block_id}                      BlockResponse
// plus GET /v1/agents/{id}/messages (the agent's own thread). A second message request in one
// conversation while one runs answers 409 (Letta's per-conversation lock) and is counted.
// Fault mode land_late: the message is recorded in the thread at once, the answer goes out
// after `land_late_delay` (past the client's timeout). Runs on fake-letta's one io thread.
#include <utility>  // Boost 1.74's awaitable.hpp uses std::exchange without including it.

#include <optional>
#include <string>
#include <vector>

#include <boost/asio/awaitable.hpp>

#include "tools/fake-letta/fake_state.hpp"
#include "tools/fake-letta/http_util.hpp"
#include "workers/letta_client.hpp"

namespace fake_letta {

// nullopt when the request is not one of these routes. `close`: drop the connection unanswered.
boost::asio::awaitable<std::optional<response>> handle_conversation_routes(fake_state& st, const request& rq,
                                                                           const std::vector<std::string>& parts,
                                                                           bool& close);

// The reply text fake-letta gives (deterministic): "<agent> hears you: <first 40 chars>".
std::string fake_reply_text(const std::string& agent, const std::string& last);
// A LettaResponse carrying `text`.
std::string letta_response_body(const std::string& text);
// Appends one user/system message per request message and the assistant's answer to a thread.
void record_exchange(fake_state& st, std::vector<thread_message>& thread,
                     const std::vector<orch::workers::letta_message>& messages, const std::string& answer);
// A thread rendered as a LettaMessage array, per the query's order (asc by default) and limit.
std::string thread_json(const std::vector<thread_message>& thread, const std::string& target);

}  // namespace fake_letta
