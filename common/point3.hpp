#pragma once
// point3: a position in the game world, in studs. The one 3-D point of the project: snapshot
// positions (workers::vec3), clustering input (policies::point3) and the registry's location
// coordinates are all this type. A plain aggregate; no invariants, no failure.
namespace orch::common {

struct point3 {
  double x = 0, y = 0, z = 0;
};

inline double squared_distance(const point3& a, const point3& b) {
  const double dx = a.x - b.x, dy = a.y - b.y, dz = a.z - b.z;
  return dx * dx + dy * dy + dz * dz;
}

}  // namespace orch::common
