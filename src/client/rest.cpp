#include "client/rest.hpp"

#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/json.hpp>

#include "client/url.hpp"

namespace portier::client {
namespace net = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace json = boost::json;

Result<RestReply> RestClient::request(const std::string& method, const std::string& target, const json::value& body,
                                      const std::string& token) {
  auto url = parse_url(url_);
  if (!url) return Error{0, "bad_url", "the server URL is not http://HOST:PORT: " + url_, ""};
  if (url->tls) return Error{0, "tls_unsupported", "this build's client speaks plain HTTP only", ""};
  net::io_context ioc;
  net::ip::tcp::socket sock(ioc);
  net::ip::tcp::resolver resolver(ioc);
  beast::error_code ec;
  auto eps = resolver.resolve(url->host, url->port, ec);
  if (!ec) net::connect(sock, eps, ec);
  if (ec) return Error{0, "connection_failed", "cannot reach " + url_ + ": " + ec.message(), ""};
  http::request<http::string_body> req(http::string_to_verb(method), target, 11);
  req.set(http::field::host, url->host + ":" + url->port);
  req.set(http::field::user_agent, "portier-cli");
  if (!token.empty()) req.set(http::field::authorization, "Bearer " + token);
  if (!body.is_null()) {
    req.set(http::field::content_type, "application/json");
    req.body() = json::serialize(body);
  }
  req.prepare_payload();
  http::write(sock, req, ec);
  beast::flat_buffer buf;
  http::response_parser<http::string_body> parser;
  parser.body_limit(256u << 20);
  if (!ec) http::read(sock, buf, parser, ec);
  if (ec) return Error{0, "connection_failed", "talking to " + url_ + ": " + ec.message(), ""};
  RestReply r;
  r.status = parser.get().result_int();
  r.raw = parser.get().body();
  boost::system::error_code pec;
  if (!r.raw.empty()) r.body = json::parse(r.raw, pec);
  if (pec) r.body = nullptr;
  return r;
}

}  // namespace portier::client
