#pragma once
// shared_conversations: the (agent, game) → Letta conversation map shared by every daemon
// (DESIGN 10), so that a game moved to another daemon keeps its conversations and two daemons
// racing on a pair's first call end up with one. Values are opaque text (the discipline's
// encoding of a conversation id and its isolated block ids).
// Implementations answer through callbacks, never inline; nullopt means "not there" or "could
// not ask" (the caller then asks Letta, as a daemon alone does).
#include <functional>
#include <optional>
#include <string>

namespace orch::workers {

class redis_client;

class shared_conversations {
 public:
  using value_fn = std::function<void(std::optional<std::string> value)>;
  virtual ~shared_conversations() = default;
  virtual void get(const std::string& key, value_fn cb) = 0;
  // Stores `value` unless `key` already holds one; answers with the value that stands (ours,
  // or the winner's), or nullopt when the store could not be asked.
  virtual void put_if_absent(const std::string& key, std::string value, value_fn cb) = 0;
};

// In Redis: key_prefix + "conv:" + key; put_if_absent is one SET NX GET (atomic). Keys do not
// expire (nor do the conversations in Letta). The client outlives it.
class redis_shared_conversations final : public shared_conversations {
 public:
  redis_shared_conversations(redis_client& client, std::string key_prefix);
  void get(const std::string& key, value_fn cb) override;
  void put_if_absent(const std::string& key, std::string value, value_fn cb) override;

 private:
  redis_client& client_;
  std::string prefix_;
};

}  // namespace orch::workers
