#include "workers/sync_mailbox.hpp"

#include <mutex>
#include <unordered_map>
#include <utility>

namespace orch::workers {

struct sync_mailbox::table {
  mutable std::mutex mu;
  std::unordered_map<std::string, letter*> waiting;  // by sync key; a letter erases itself
};

sync_mailbox::sync_mailbox() : table_(std::make_shared<table>()) {}

std::shared_ptr<sync_mailbox::letter> sync_mailbox::post(const std::string& key,
                                                         std::shared_ptr<const sync_request> req,
                                                         std::shared_ptr<const sync_request>* replaced) {
  auto& t = *table_;
  std::unique_lock lk(t.mu);
  if (auto it = t.waiting.find(key); it != t.waiting.end()) {
    std::swap(it->second->req_, req);
    lk.unlock();  // the replaced request is freed (or handed out) outside the lock
    if (replaced) *replaced = std::move(req);
    return nullptr;
  }
  auto l = std::make_shared<letter>(table_, key);
  l->req_ = std::move(req);
  t.waiting.emplace(key, l.get());
  return l;
}

std::size_t sync_mailbox::waiting() const {
  std::lock_guard lk(table_->mu);
  return table_->waiting.size();
}

sync_mailbox::letter::letter(std::shared_ptr<table> t, std::string key) : table_(std::move(t)), key_(std::move(key)) {}

sync_mailbox::letter::~letter() { take(); }

std::shared_ptr<const sync_request> sync_mailbox::letter::take() {
  std::lock_guard lk(table_->mu);
  if (auto it = table_->waiting.find(key_); it != table_->waiting.end() && it->second == this)
    table_->waiting.erase(it);
  return std::move(req_);
}

}  // namespace orch::workers
