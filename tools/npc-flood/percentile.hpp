#pragma once
// npc-flood's percentile helper is the project's one (common/percentile.hpp): every latency
// the tool reports (ack, reply, typing) goes through it, so the figures agree with each other.
#include "common/percentile.hpp"

namespace orch::tools {

using common::nearest_rank;

}  // namespace orch::tools
