#pragma once
// What every HTTP and WebSocket session of one server shares: the router, the limits and
// the counters. Owned by http_server through a shared_ptr that each session also holds, so
// a session outliving the server's stop() stays valid.
#include <atomic>
#include <map>
#include <memory>
#include <mutex>
#include <vector>

#include <boost/asio/ip/address.hpp>

#include "common/metrics.hpp"
#include "daemon/config.hpp"
#include "daemon/router.hpp"

namespace orch::daemon {

class ws_session;

struct http_server::shared_state {
  shared_state(router& r, const server_options& o, metrics::registry& m)
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
                                "buffer, or a backlog larger than half the outbound bound)")),
        per_ip_refused(m.get_counter("npcorch_http_connections_per_ip_refused_total",
                                     "Connections closed at once because their address had "
                                     "server.max_connections_per_ip open")),
        accept_errors(m.get_counter("npcorch_http_accept_errors_total",
                                    "Failed accepts (EMFILE and the like); the listener backs off")),
        header_timeouts(m.get_counter("npcorch_http_header_timeouts_total",
                                      "Connections closed because a request's headers did not arrive in "
                                      "server.header_timeout_ms")),
        refused_before_body(m.get_counter("npcorch_http_refused_before_body_total",
                                          "Requests answered from their headers alone (401/404/405), body unread")) {}

  // Per-address connection accounting: take() when accepting (false = over the cap),
  // give() when the connection is gone. Thread-safe.
  bool take(const boost::asio::ip::address& a) {
    std::lock_guard lk(ip_mu);
    auto& n = per_ip[a];
    if (n >= opts.max_connections_per_ip) {
      if (n == 0) per_ip.erase(a);
      return false;
    }
    ++n;
    return true;
  }
  // WebSocket sessions, for the shutdown's close frames. Thread-safe.
  void add_ws(std::weak_ptr<ws_session> w) {
    std::lock_guard lk(ws_mu);
    if (ws_sessions.size() >= 64 && ws_sessions.size() >= 2 * ws_pruned_size) prune_ws_locked();
    ws_sessions.push_back(std::move(w));
  }
  std::vector<std::shared_ptr<ws_session>> live_ws() {
    std::lock_guard lk(ws_mu);
    prune_ws_locked();
    std::vector<std::shared_ptr<ws_session>> out;
    for (auto& w : ws_sessions)
      if (auto s = w.lock()) out.push_back(std::move(s));
    return out;
  }
  void prune_ws_locked() {
    std::erase_if(ws_sessions, [](const auto& w) { return w.expired(); });
    ws_pruned_size = ws_sessions.size();
  }
  void give(const boost::asio::ip::address& a) {
    std::lock_guard lk(ip_mu);
    auto it = per_ip.find(a);
    if (it != per_ip.end() && --it->second == 0) per_ip.erase(it);
  }

  router& rt;
  server_options opts;
  std::atomic<std::uint32_t> open{0};
  std::atomic<bool> stopping{false};
  metrics::gauge& connections;
  metrics::counter& connections_refused;
  metrics::counter& requests;
  metrics::counter& timeouts;
  metrics::gauge& ws_clients;
  metrics::counter& ws_events_sent;
  metrics::counter& ws_frames_in;
  metrics::counter& ws_overflows;
  metrics::counter& ws_resets;
  metrics::counter& per_ip_refused;
  metrics::counter& accept_errors;
  metrics::counter& header_timeouts;
  metrics::counter& refused_before_body;
  std::atomic<std::int32_t> in_flight{0};  // requests handed to the router, not yet answered
  std::mutex ws_mu;
  std::vector<std::weak_ptr<ws_session>> ws_sessions;
  std::size_t ws_pruned_size = 0;
  std::mutex ip_mu;
  std::map<boost::asio::ip::address, std::uint32_t> per_ip;
};

}  // namespace orch::daemon
