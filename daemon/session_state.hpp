#pragma once
// What every HTTP and WebSocket session of one server shares: the router, the limits and
// the counters. Owned by http_server through a shared_ptr that each session also holds, so
// a session outliving the server's stop() stays valid.
#include <atomic>

#include "daemon/config.hpp"
#include "daemon/router.hpp"
#include "queues/metrics.hpp"

namespace orch::daemon {

struct http_server::shared_state {
  shared_state(router& r, const server_options& o, queues::registry& m)
      : rt(r),
        opts(o),
        connections(m.get_gauge("npcorch_http_connections", "Open HTTP and WebSocket connections")),
        connections_refused(m.get_counter("npcorch_http_connections_refused_total",
                                          "Connections closed at once because server.max_connections were open")),
        requests(m.get_counter("npcorch_http_requests_total", "HTTP requests answered")),
        timeouts(m.get_counter("npcorch_http_timeouts_total", "Connections closed by a read or write timeout")),
        ws_clients(m.get_gauge("npcorch_ws_clients", "Connected WebSocket clients")),
        ws_events_sent(m.get_counter("npcorch_ws_events_sent_total", "Events pushed to WebSocket clients")),
        ws_frames_in(m.get_counter("npcorch_ws_frames_received_total", "Frames received from WebSocket clients")),
        ws_overflows(m.get_counter("npcorch_ws_outbound_overflows_total",
                                   "WebSocket clients cut off because their outbound queue was full")),
        ws_resets(m.get_counter("npcorch_ws_resets_total",
                                "WebSocket joins answered with a reset frame (since not covered by the replay "
                                "buffer, or a backlog larger than half the outbound bound)")) {}
  router& rt;
  server_options opts;
  std::atomic<std::uint32_t> open{0};
  std::atomic<bool> stopping{false};
  queues::gauge& connections;
  queues::counter& connections_refused;
  queues::counter& requests;
  queues::counter& timeouts;
  queues::gauge& ws_clients;
  queues::counter& ws_events_sent;
  queues::counter& ws_frames_in;
  queues::counter& ws_overflows;
  queues::counter& ws_resets;
};

}  // namespace orch::daemon
