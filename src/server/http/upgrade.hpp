#pragma once
// A connection the HTTP transport hands to the WebSocket gateway after reading an upgrade
// request. Includes Beast: only http_server.cpp and the gateway include this.

#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/message.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/ssl/ssl_stream.hpp>
#include <string>
#include <variant>

namespace portier {

struct Upgrade {
  // Plain, or TLS when portierd serves HTTPS.
  std::variant<boost::beast::tcp_stream, boost::beast::ssl_stream<boost::beast::tcp_stream>> stream;
  boost::beast::http::request<boost::beast::http::string_body> request;
  std::string peer;
};

}  // namespace portier
