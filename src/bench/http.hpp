#pragma once
// A blocking HTTP/1.1 client on one keep-alive connection (TCP_NODELAY), timed: the bench
// measures a write from the moment its request is sent.

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/json/value.hpp>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>

namespace portier::bench {

struct HttpReply {
  int status = 0;  // 0: no answer (see error)
  std::string body;
  boost::json::value json;   // null when the body is not JSON
  std::string error;         // transport error
  std::int64_t sent_ns = 0;  // just before the request was written
  std::int64_t done_ns = 0;  // when the whole response was read
  double ms() const { return static_cast<double>(done_ns - sent_ns) / 1e6; }
  // body["error"]["code"], or "".
  std::string code() const;
};

class Http {
 public:
  Http(std::string host, unsigned short port) : host_(std::move(host)), port_(port) {}
  HttpReply request(const std::string& method, const std::string& target,
                    const std::string& body = "", const std::string& token = "",
                    const std::string& content_type = "application/json");
  HttpReply json(const std::string& method, const std::string& target,
                 const boost::json::value& body, const std::string& token = "");

 private:
  HttpReply once(const std::string& method, const std::string& target, const std::string& body,
                 const std::string& token, const std::string& content_type);
  std::string host_;
  unsigned short port_;
  boost::asio::io_context ioc_;
  std::optional<boost::asio::ip::tcp::socket> sock_;
  boost::beast::flat_buffer buf_;
};

// Runs fn(i, http) for i in [0, n) on `connections` threads, each with its own connection.
void parallel(std::size_t n, int connections, const std::string& host, unsigned short port,
              const std::function<void(std::size_t, Http&)>& fn);

}  // namespace portier::bench
