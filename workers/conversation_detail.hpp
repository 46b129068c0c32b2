#pragma once
// Small helpers shared by the conversation_state translation units (not a public API).
#include <string>
#include <string_view>
#include <vector>

#include "workers/world_view.hpp"

namespace orch::workers::conversation_detail {

inline const entity_view* find_entity(const world_view* v, const std::string& name) {
  if (!v) return nullptr;
  auto it = v->entities.find(name);
  return it == v->entities.end() ? nullptr : &it->second;
}

inline bool is_agent_npc(const entity_view* e) { return e && e->is_npc && !e->agent_id.empty(); }

}  // namespace orch::workers::conversation_detail
