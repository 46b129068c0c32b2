#pragma once
// The timer service lives in queues/ (the dispatcher uses it too); these names keep the
// workers' spelling.
#include "queues/timer_service.hpp"

namespace orch::workers {

using queues::asio_timer_service;
using queues::manual_timer_service;
using queues::timer_id;
using queues::timer_service;

}  // namespace orch::workers
