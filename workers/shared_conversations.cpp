#include "workers/shared_conversations.hpp"

#include "workers/redis_client.hpp"

namespace orch::workers {

redis_shared_conversations::redis_shared_conversations(redis_client& client, std::string key_prefix)
    : client_(client), prefix_(std::move(key_prefix)) {}

void redis_shared_conversations::get(const std::string& key, value_fn cb) {
  client_.command({"GET", prefix_ + "conv:" + key}, [cb = std::move(cb)](redis_reply r) {
    if (r.type == redis_reply::kind::string) return cb(std::move(r.str));
    cb(std::nullopt);
  });
}

void redis_shared_conversations::put_if_absent(const std::string& key, std::string value, value_fn cb) {
  client_.command({"SET", prefix_ + "conv:" + key, value, "NX", "GET"}, [cb = std::move(cb), value](redis_reply r) {
    if (r.type == redis_reply::kind::nil) return cb(value);                // set: ours stands
    if (r.type == redis_reply::kind::string) return cb(std::move(r.str));  // the winner's
    cb(std::nullopt);
  });
}

}  // namespace orch::workers
