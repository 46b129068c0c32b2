#pragma once
// fake-letta's small HTTP helpers, shared by its route files: JSON replies, Letta's error
// body, path splitting and a coroutine sleep. Stateless; thread-safe.
#include <utility>  // Boost 1.74's awaitable.hpp uses std::exchange without including it.

#include <chrono>
#include <string>
#include <string_view>
#include <vector>

#include <boost/asio/redirect_error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

#include "workers/json_text.hpp"

namespace fake_letta {

using request = boost::beast::http::request<boost::beast::http::string_body>;
using response = boost::beast::http::response<boost::beast::http::string_body>;

inline response reply(const request& rq, unsigned status, std::string body) {
  response r{static_cast<boost::beast::http::status>(status), rq.version()};
  r.set(boost::beast::http::field::content_type, "application/json");
  r.set(boost::beast::http::field::server, "fake-letta");
  r.keep_alive(rq.keep_alive());
  r.body() = std::move(body);
  r.prepare_payload();
  return r;
}

inline std::string detail(std::string_view d) { return "{\"detail\":" + orch::workers::json_quote(d) + "}"; }

inline std::vector<std::string> split_path(std::string_view target) {
  if (auto q = target.find('?'); q != std::string_view::npos) target = target.substr(0, q);
  std::vector<std::string> parts;
  std::string cur;
  for (char c : target) {
    if (c == '/') {
      if (!cur.empty()) parts.push_back(cur);
      cur.clear();
    } else {
      cur += c;
    }
  }
  if (!cur.empty()) parts.push_back(cur);
  return parts;
}

inline boost::asio::awaitable<void> sleep_for(std::chrono::milliseconds d) {
  boost::asio::steady_timer t(co_await boost::asio::this_coro::executor, d);
  boost::beast::error_code ec;
  co_await t.async_wait(boost::asio::redirect_error(boost::asio::use_awaitable, ec));
}

}  // namespace fake_letta
