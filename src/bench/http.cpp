#include "bench/http.hpp"

#include <atomic>
#include <boost/beast/http.hpp>
#include <boost/json.hpp>
#include <exception>
#include <mutex>
#include <thread>

#include "bench/wire.hpp"

namespace portier::bench {
namespace net = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = net::ip::tcp;

std::string HttpReply::code() const {
  const auto* o = json.if_object();
  const auto* e = o ? o->if_contains("error") : nullptr;
  const auto* c = e && e->is_object() ? e->as_object().if_contains("code") : nullptr;
  return c && c->is_string() ? std::string(c->as_string()) : std::string();
}

HttpReply Http::request(const std::string& method, const std::string& target,
                        const std::string& body, const std::string& token,
                        const std::string& content_type) {
  bool reused = sock_.has_value();
  auto r = once(method, target, body, token, content_type);
  // A kept-alive connection the server closed meanwhile: once more on a fresh one.
  if (r.status == 0 && reused) r = once(method, target, body, token, content_type);
  return r;
}

HttpReply Http::json(const std::string& method, const std::string& target,
                     const boost::json::value& body, const std::string& token) {
  return request(method, target, body.is_null() ? "" : boost::json::serialize(body), token);
}

HttpReply Http::once(const std::string& method, const std::string& target, const std::string& body,
                     const std::string& token, const std::string& content_type) {
  HttpReply r;
  boost::system::error_code ec;
  if (!sock_) {
    sock_.emplace(ioc_);
    sock_->connect(tcp::endpoint(net::ip::make_address(host_), port_), ec);
    if (!ec) sock_->set_option(tcp::no_delay(true), ec);
    if (ec) {
      sock_.reset();
      r.error = "connect: " + ec.message();
      return r;
    }
    buf_.clear();
  }
  http::request<http::string_body> req(http::string_to_verb(method), target, 11);
  req.set(http::field::host, host_ + ":" + std::to_string(port_));
  req.keep_alive(true);
  if (!token.empty()) req.set(http::field::authorization, "Bearer " + token);
  if (!body.empty()) {
    req.set(http::field::content_type, content_type);
    req.body() = body;
  }
  req.prepare_payload();
  r.sent_ns = now_ns();
  http::write(*sock_, req, ec);
  http::response_parser<http::string_body> parser;
  parser.body_limit(1u << 30);
  if (!ec) http::read(*sock_, buf_, parser, ec);
  r.done_ns = now_ns();
  if (ec) {
    sock_.reset();
    r.error = method + " " + target + ": " + ec.message();
    return r;
  }
  auto& res = parser.get();
  r.status = res.result_int();
  r.body = std::move(res.body());
  if (!res.keep_alive()) sock_.reset();
  boost::system::error_code pec;
  if (!r.body.empty()) r.json = boost::json::parse(r.body, pec);
  if (pec) r.json = nullptr;
  return r;
}

void parallel(std::size_t n, int connections, const std::string& host, unsigned short port,
              const std::function<void(std::size_t, Http&)>& fn) {
  std::atomic<std::size_t> next{0};
  std::exception_ptr failure;
  std::mutex mu;
  std::vector<std::thread> threads;
  for (int t = 0; t < std::max(1, connections); ++t)
    threads.emplace_back([&] {
      Http h(host, port);
      for (std::size_t i; (i = next++) < n;) {
        try {
          fn(i, h);
        } catch (...) {
          std::lock_guard lock(mu);
          if (!failure) failure = std::current_exception();
          next = n;  // stop the others too
        }
      }
    });
  for (auto& t : threads) t.join();
  if (failure) std::rethrow_exception(failure);
}

}  // namespace portier::bench
