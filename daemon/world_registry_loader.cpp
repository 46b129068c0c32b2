#include "daemon/world_registry_loader.hpp"

#include <algorithm>
#include <fstream>
#include <map>
#include <sstream>

#include "daemon/config_yaml.hpp"

namespace orch::daemon::detail {

namespace {

bool is_lower_hex(char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'); }

bool valid_slug(std::string_view s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '-';
  });
}

// Remembers the first place a value was seen; reports later duplicates.
class uniqueness {
 public:
  uniqueness(yaml_reader& r, std::string what) : r_(r), what_(std::move(what)) {}
  void check(const std::string& value, const yaml_entry& e) {
    auto [it, inserted] = seen_.emplace(value, e.path);
    if (!inserted) r_.error(e, "duplicate " + what_ + " '" + value + "' (first at " + it->second + ")");
  }
  bool contains(const std::string& value) const { return seen_.count(value) != 0; }

 private:
  yaml_reader& r_;
  std::string what_;
  std::map<std::string, std::string> seen_;
};

// A sequence under `sec`; null is empty. Each element becomes an entry named path[i].
std::vector<yaml_entry> elements(yaml_reader& r, const yaml_entry& sec) {
  std::vector<yaml_entry> out;
  if (sec.value.IsNull()) return out;
  if (!sec.value.IsSequence()) {
    r.error(sec, "expected a list");
    return out;
  }
  std::size_t i = 0;
  for (const auto& el : sec.value) {
    out.push_back({std::to_string(i), sec.path + "[" + std::to_string(i) + "]", el.Mark(), el});
    ++i;
  }
  return out;
}

}  // namespace

bool valid_agent_id(std::string_view id) {
  constexpr std::string_view prefix = "agent-";
  if (id.substr(0, prefix.size()) != prefix) return false;
  std::string_view u = id.substr(prefix.size());
  // 8-4-4-4-12, version nibble 4, variant nibble 8/9/a/b.
  if (u.size() != 36) return false;
  for (std::size_t i = 0; i < u.size(); ++i) {
    if (i == 8 || i == 13 || i == 18 || i == 23) {
      if (u[i] != '-') return false;
    } else if (!is_lower_hex(u[i])) {
      return false;
    }
  }
  return u[14] == '4' && (u[19] == '8' || u[19] == '9' || u[19] == 'a' || u[19] == 'b');
}

std::optional<workers::world_registry> load_registry(const std::string& path, std::vector<std::string>& errors) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    errors.push_back(path + ": cannot read registry file");
    return std::nullopt;
  }
  std::ostringstream ss;
  ss << in.rdbuf();
  YAML::Node root;
  try {
    root = YAML::Load(ss.str());
  } catch (const YAML::Exception& e) {
    errors.push_back(path + ": " + e.msg + " (line " + std::to_string(line_of(e.mark)) + ")");
    return std::nullopt;
  }

  yaml_reader r(path + ": ");
  std::vector<workers::npc_info> npcs;
  std::vector<workers::location_info> locations;
  uniqueness ids(r, "id"), names(r, "display_name"), agents(r, "agent_id");
  uniqueness slugs(r, "slug"), location_names(r, "name");

  auto read_npc = [&](const yaml_entry& el) {
    workers::npc_info npc;
    bool has_id = false, has_name = false;
    std::optional<yaml_entry> id_entry, name_entry;
    r.walk(el.value, el.path, el.mark,
           {{"id",
             [&](const yaml_entry& e) {
               if ((has_id = r.read_required_string(e, npc.id))) id_entry = e;
             }},
            {"display_name",
             [&](const yaml_entry& e) {
               if ((has_name = r.read_required_string(e, npc.display_name))) name_entry = e;
             }},
            {"description", [&](const yaml_entry& e) { r.read_string(e, npc.description); }},
            {"agent_id", [&](const yaml_entry& e) {
               std::string v;
               if (!r.read_string(e, v) || v.empty()) return;
               if (!valid_agent_id(v))
                 return r.error(e,
                                "expected agent-<uuid4> (lowercase, e.g. agent-1b4e28ba-2fa1-4d2b-a883-0f0e3c1a9d4e)");
               agents.check(v, e);
               npc.agent_id = v;
             }}});
    if (!el.value.IsMap()) return;  // already reported
    if (!has_id && !el.value["id"]) r.error(el, "missing required key 'id'");
    if (!has_name && !el.value["display_name"]) r.error(el, "missing required key 'display_name'");
    // ids and display names share one lookup (find_npc): neither may repeat across both.
    if (id_entry) ids.check(npc.id, *id_entry);
    if (name_entry) {
      names.check(npc.display_name, *name_entry);
      if (npc.display_name != npc.id && ids.contains(npc.display_name))
        r.error(*name_entry, "display_name '" + npc.display_name + "' is another NPC's id");
    }
    npcs.push_back(std::move(npc));
  };

  auto read_location = [&](const yaml_entry& el) {
    workers::location_info loc;
    bool has_slug = false, has_name = false, has_coords = false;
    r.walk(el.value, el.path, el.mark,
           {{"slug",
             [&](const yaml_entry& e) {
               if (!r.read_required_string(e, loc.slug)) return;
               if (!valid_slug(loc.slug)) return r.error(e, "slugs must match [a-z0-9_-]+");
               has_slug = true;
               slugs.check(loc.slug, e);
             }},
            {"name",
             [&](const yaml_entry& e) {
               if (!r.read_required_string(e, loc.name)) return;
               has_name = true;
               location_names.check(loc.name, e);
             }},
            {"coordinates",
             [&](const yaml_entry& e) {
               if (!e.value.IsSequence() || e.value.size() != 3) return r.error(e, "expected [x, y, z]");
               bool ok = true;
               double* const xyz[3] = {&loc.coordinates.x, &loc.coordinates.y, &loc.coordinates.z};
               for (std::size_t i = 0; i < 3; ++i) {
                 yaml_entry c{std::to_string(i), e.path + "[" + std::to_string(i) + "]", e.value[i].Mark(), e.value[i]};
                 ok = r.read_number(c, -1e7, false, 1e7, *xyz[i]) && ok;
               }
               has_coords = ok;
             }},
            {"description", [&](const yaml_entry& e) { r.read_string(e, loc.description); }}});
    if (!el.value.IsMap()) return;
    if (!has_slug && !el.value["slug"]) r.error(el, "missing required key 'slug'");
    if (!has_name && !el.value["name"]) r.error(el, "missing required key 'name'");
    if (!has_coords && !el.value["coordinates"]) r.error(el, "missing required key 'coordinates'");
    locations.push_back(std::move(loc));
  };

  if (!root.IsNull()) {
    r.walk(root, "", YAML::Mark(),
           {{"npcs",
             [&](const yaml_entry& sec) {
               for (const auto& el : elements(r, sec)) read_npc(el);
             }},
            {"locations", [&](const yaml_entry& sec) {
               for (const auto& el : elements(r, sec)) read_location(el);
             }}});
  }
  for (auto& e : r.errors()) errors.push_back(std::move(e));
  return workers::world_registry(std::move(npcs), std::move(locations));
}

}  // namespace orch::daemon::detail
