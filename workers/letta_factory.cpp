#include "workers/letta_factory.hpp"

#include <mutex>

#include "workers/letta_discipline.hpp"
#include "workers/letta_http.hpp"
#include "workers/redis_rate_gate.hpp"

namespace orch::workers {

std::shared_ptr<letta_client> make_letta_client(boost::asio::io_context& io, const letta_options& opts,
                                                const policies::clock& clock, metrics::registry& metrics,
                                                redis_client* redis) {
  std::shared_ptr<letta_transport> transport;
  if (opts.backend == letta_backend::simulated)
    transport = std::make_shared<letta_simulated>(io, opts.simulated_latency, opts.simulated_block_latency);
  else
    transport = std::make_shared<letta_http>(io, opts, &metrics);
  auto d = discipline_options::from(opts);
  if (redis) {
    d.gate = std::make_shared<redis_rate_gate>(
        std::make_shared<redis_gcra_store>(*redis),
        rate_limits{d.global_per_s, d.global_burst, d.per_agent_per_s, d.per_agent_burst}, redis->options().key_prefix,
        clock, metrics);
    d.shared_map = std::make_shared<redis_shared_conversations>(*redis, redis->options().key_prefix);
  }
  return std::make_shared<letta_discipline>(io, std::move(transport), std::move(d), clock, metrics);
}

std::shared_ptr<letta_simulated> simulated_of(const std::shared_ptr<letta_client>& client) {
  auto d = std::dynamic_pointer_cast<letta_discipline>(client);
  if (!d) return nullptr;
  return std::dynamic_pointer_cast<letta_simulated>(d->transport());
}

void verify_agents(letta_client& client, const world_registry& world, metrics::registry& metrics,
                   std::function<void(std::vector<std::string> missing)> done) {
  struct state {
    std::mutex mu;
    std::size_t left = 0;
    std::vector<std::string> missing;
    std::function<void(std::vector<std::string>)> done;
    metrics::gauge* gauge = nullptr;
  };
  auto st = std::make_shared<state>();
  st->done = std::move(done);
  st->gauge = &metrics.get_gauge("npcorch_letta_agents_missing", "Registry agents Letta does not know");
  std::vector<std::string> ids;
  for (const auto& n : world.npcs())
    if (!n.agent_id.empty()) ids.push_back(n.agent_id);
  if (ids.empty()) {
    st->gauge->set(0);
    client.set_missing_agents({});
    // Keep the "never inline" promise: answer through the client's own path.
    client.health([st](letta_result) { st->done({}); });
    return;
  }
  st->left = ids.size();
  for (const auto& id : ids) {
    client.get_agent(id, [st, id, &client](letta_result r) {
      std::vector<std::string> out;
      {
        std::lock_guard lk(st->mu);
        if (!r.ok && r.http_status == 404) st->missing.push_back(id);
        if (--st->left != 0) return;
        out = st->missing;
      }
      st->gauge->set(static_cast<double>(out.size()));
      client.set_missing_agents(out);  // no message or block calls for them until found
      st->done(std::move(out));
    });
  }
}

}  // namespace orch::workers
