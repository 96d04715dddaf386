#include "client/rest.hpp"

#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/json.hpp>

#include "client/tls.hpp"
#include "client/url.hpp"

namespace portier::client {
namespace net = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace json = boost::json;

namespace {

template <class Stream>
Result<RestReply> exchange(Stream& stream, const std::string& url, const std::string& host_port,
                           const std::string& method, const std::string& target,
                           const json::value& body, const std::string& token) {
  beast::error_code ec;
  http::request<http::string_body> req(http::string_to_verb(method), target, 11);
  req.set(http::field::host, host_port);
  req.set(http::field::user_agent, "portier-cli");
  if (!token.empty()) req.set(http::field::authorization, "Bearer " + token);
  if (!body.is_null()) {
    req.set(http::field::content_type, "application/json");
    req.body() = json::serialize(body);
  }
  req.prepare_payload();
  http::write(stream, req, ec);
  beast::flat_buffer buf;
  http::response_parser<http::string_body> parser;
  parser.body_limit(256u << 20);
  if (!ec) http::read(stream, buf, parser, ec);
  if (ec) return Error{0, "connection_failed", "talking to " + url + ": " + ec.message(), ""};
  RestReply r;
  r.status = parser.get().result_int();
  r.raw = parser.get().body();
  boost::system::error_code pec;
  if (!r.raw.empty()) r.body = json::parse(r.raw, pec);
  if (pec) r.body = nullptr;
  return r;
}

}  // namespace

Result<RestReply> RestClient::request(const std::string& method, const std::string& target,
                                      const json::value& body, const std::string& token) {
  auto url = parse_url(url_);
  if (!url) return Error{0, "bad_url", "the server URL is not http(s)://HOST:PORT: " + url_, ""};
  net::io_context ioc;
  net::ip::tcp::socket sock(ioc);
  net::ip::tcp::resolver resolver(ioc);
  beast::error_code ec;
  auto eps = resolver.resolve(url->host, url->port, ec);
  if (!ec) net::connect(sock, eps, ec);
  if (!ec) sock.set_option(net::ip::tcp::no_delay(true), ec);
  if (ec) return Error{0, "connection_failed", "cannot reach " + url_ + ": " + ec.message(), ""};
  std::string host_port = url->host + ":" + url->port;
  if (!url->tls) return exchange(sock, url_, host_port, method, target, body, token);
  auto ctx = tls_context(ca_file_);
  if (!ctx) return ctx.error();
  net::ssl::stream<net::ip::tcp::socket> tls(std::move(sock), **ctx);
  if (auto s = verify_server(tls, url->host); !s) return s.error();
  tls.handshake(net::ssl::stream_base::client, ec);
  if (ec) return Error{0, "tls_failed", "TLS with " + url_ + ": " + ec.message(), ""};
  return exchange(tls, url_, host_port, method, target, body, token);
}

}  // namespace portier::client
