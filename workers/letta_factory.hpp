#pragma once
// Builds the daemon's letta_client from `letta.*` settings: the call discipline over the http
// or the simulated transport, and verifies the registry's agents at start and on reload.
// make_letta_client throws std::invalid_argument on a malformed base_url (config error).
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include <boost/asio/io_context.hpp>

#include "common/metrics.hpp"
#include "policies/clock.hpp"
#include "workers/letta_client.hpp"
#include "workers/letta_options.hpp"
#include "workers/letta_simulated.hpp"
#include "workers/redis_client.hpp"
#include "workers/world_registry.hpp"

namespace orch::workers {

// `redis`: when set, the global and per-agent rates and the conversation map are shared through
// it (DESIGN 10); it must outlive the client, and be started after this call (scripts).
std::shared_ptr<letta_client> make_letta_client(boost::asio::io_context& io, const letta_options& opts,
                                                const policies::clock& clock, metrics::registry& metrics,
                                                redis_client* redis = nullptr);

// The simulated backend behind a client made by make_letta_client, or nullptr (http backend).
std::shared_ptr<letta_simulated> simulated_of(const std::shared_ptr<letta_client>& client);

// GETs every registry NPC's agent (those with an agent_id) and reports the missing ones (404)
// once all answered; the gauge npcorch_letta_agents_missing is set to their number. An agent
// whose lookup failed otherwise (timeout, breaker) is not reported missing. `done` runs on an
// io_context thread; immediately-posted when the registry has no agents. The client is told
// (set_missing_agents), so missing agents get no message or block calls until found.
void verify_agents(letta_client& client, const world_registry& world, metrics::registry& metrics,
                   std::function<void(std::vector<std::string> missing)> done);

}  // namespace orch::workers
