#include "server/http_server.hpp"

#include "server/upgrade.hpp"

#include <spdlog/spdlog.h>
#include <boost/asio.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <boost/beast/websocket/rfc6455.hpp>
#include <mutex>
#include <set>

namespace portier {
namespace net = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = net::ip::tcp;

namespace {

Response plain_error(int status, const char* code, const char* message) {
  Response r;
  r.status = status;
  r.body = std::string(R"({"error":{"code":")") + code + R"(","message":")" + message +
           R"(","field":""}})";
  return r;
}

}  // namespace

// What the server needs of a connection of any stream type.
class SessionBase {
 public:
  virtual ~SessionBase() = default;
  // Closes the connection if it waits for a request; a busy one closes after its response.
  virtual void drain() = 0;
};

using PlainStream = beast::tcp_stream;
using TlsStream = beast::ssl_stream<beast::tcp_stream>;

struct HttpServer::Impl : std::enable_shared_from_this<HttpServer::Impl> {
  Impl(net::io_context& ioc, net::thread_pool& workers, Handler handler, HttpOptions options)
      : ioc(ioc),
        workers(workers),
        handler(std::move(handler)),
        options(options),
        acceptor(ioc),
        drain_timer(ioc) {}

  net::io_context& ioc;
  net::thread_pool& workers;
  Handler handler;
  HttpOptions options;
  std::string upgrade_path;
  UpgradeHandler upgrade;
  tcp::acceptor acceptor;
  net::steady_timer drain_timer;
  std::atomic<bool> draining{false};

  std::mutex mu;
  std::set<std::weak_ptr<SessionBase>, std::owner_less<std::weak_ptr<SessionBase>>> sessions;
  std::optional<net::ssl::context> tls;  // set: every connection speaks TLS

  void do_accept();
  void on_session_closed(const std::weak_ptr<SessionBase>& s);
};

template <class Stream>
class Session : public SessionBase, public std::enable_shared_from_this<Session<Stream>> {
 public:
  Session(Stream stream, std::shared_ptr<HttpServer::Impl> server)
      : stream_(std::move(stream)), server_(std::move(server)) {
    beast::error_code ec;
    auto ep = lowest().socket().remote_endpoint(ec);
    if (!ec) peer_ = ep.address().to_string();
  }
  ~Session() { server_->on_session_closed(this->weak_from_this()); }

  void run() {
    if constexpr (std::is_same_v<Stream, TlsStream>) {
      lowest().expires_after(std::chrono::seconds(30));
      stream_.async_handshake(net::ssl::stream_base::server,
                              [self = this->shared_from_this()](beast::error_code ec) {
                                if (ec) return self->fail(ec, "tls handshake");
                                self->do_read();
                              });
    } else {
      net::dispatch(stream_.get_executor(),
                    beast::bind_front_handler(&Session::do_read, this->shared_from_this()));
    }
  }

  void drain() override {
    if (upgraded_) return;  // the gateway owns the connection now
    net::post(stream_.get_executor(), [self = this->shared_from_this()] {
      if (self->reading_ && !self->upgraded_) self->lowest().socket().close();
    });
  }

 private:
  void do_read() {
    if (server_->draining) return do_close();
    parser_.emplace();
    parser_->body_limit(server_->options.max_body_bytes);
    parser_->header_limit(16 * 1024);
    lowest().expires_after(server_->options.idle_timeout);
    reading_ = true;
    http::async_read(stream_, buffer_, *parser_,
                     beast::bind_front_handler(&Session::on_read, this->shared_from_this()));
  }

  void on_read(beast::error_code ec, std::size_t) {
    reading_ = false;
    if (ec == http::error::end_of_stream) return do_close();
    if (ec == http::error::body_limit) {
      keep_alive_ = false;
      linger_ = true;
      return do_write(plain_error(413, "payload_too_large", "the request body is too large"));
    }
    if (ec == http::error::header_limit) {
      keep_alive_ = false;
      linger_ = true;
      return do_write(plain_error(431, "headers_too_large", "the request headers are too large"));
    }
    if (ec && ec.category() == http::make_error_code(http::error::bad_target).category()) {
      keep_alive_ = false;  // a malformed request: answer, then hang up
      linger_ = true;
      return do_write(plain_error(400, "bad_request", "malformed HTTP request"));
    }
    if (ec) return fail(ec, "read");

    auto& msg = parser_->get();
    if (beast::websocket::is_upgrade(msg)) {
      std::string_view target = msg.target();
      target = target.substr(0, target.find('?'));
      if (server_->upgrade && !server_->draining && target == server_->upgrade_path) {
        // The gateway owns the connection from here on.
        upgraded_ = true;
        return server_->upgrade(
            std::make_unique<Upgrade>(Upgrade{std::move(stream_), parser_->release(), peer_}));
      }
    }
    Request req;
    req.method = std::string(msg.method_string());
    req.target = std::string(msg.target());
    req.body = std::move(msg.body());
    req.content_type = std::string(msg[http::field::content_type]);
    req.authorization = std::string(msg[http::field::authorization]);
    req.accept_encoding = std::string(msg[http::field::accept_encoding]);
    req.peer = peer_;
    keep_alive_ = msg.keep_alive();
    version_ = msg.version();
    // The handler may block on the store: run it on the worker pool, never on an io thread.
    net::post(server_->workers, [self = this->shared_from_this(), req = std::move(req)] {
      self->server_->handler(req, [self](Response res) {
        net::post(self->stream_.get_executor(),
                  [self, res = std::move(res)]() mutable { self->do_write(std::move(res)); });
      });
    });
  }

  void do_write(Response r) {
    auto res = std::make_shared<http::response<http::string_body>>(
        static_cast<http::status>(r.status), version_ ? version_ : 11);
    res->set(http::field::server, "portierd");
    res->set(http::field::content_type, r.content_type);
    res->set(http::field::cache_control, "no-store");
    for (auto& [k, v] : r.headers) res->set(k, v);
    res->body() = std::move(r.body);
    res->keep_alive(keep_alive_ && !server_->draining);
    res->prepare_payload();
    lowest().expires_after(server_->options.idle_timeout);
    http::async_write(stream_, *res,
                      [self = this->shared_from_this(), res](beast::error_code ec, std::size_t) {
                        self->on_write(ec, !res->keep_alive());
                      });
  }

  void on_write(beast::error_code ec, bool close) {
    if (ec) return fail(ec, "write");
    if (close && linger_) return do_linger();
    if (close) return do_close();
    do_read();
  }

  // After refusing a request we did not read whole, stop sending but read and discard what
  // the client is still sending for a moment: closing with unread data would reset the
  // connection and could destroy our error response before the client reads it.
  void do_linger() {
    beast::error_code ec;
    lowest().socket().shutdown(tcp::socket::shutdown_send, ec);
    lowest().expires_after(std::chrono::seconds(2));
    discard_.resize(64 * 1024);
    stream_.async_read_some(net::buffer(discard_),
                            [self = this->shared_from_this()](beast::error_code ec, std::size_t n) {
                              self->lingered_ += n;
                              if (ec || self->lingered_ > (16u << 20)) return self->do_close();
                              self->do_linger();
                            });
  }

  void fail(beast::error_code ec, const char* what) {
    if (ec != net::error::operation_aborted && ec != beast::error::timeout &&
        ec != net::error::connection_reset && ec != net::error::bad_descriptor)
      spdlog::debug("http {}: {}", what, ec.message());
    do_close();
  }

  void do_close() {
    beast::error_code ec;
    lowest().socket().shutdown(tcp::socket::shutdown_send, ec);
    lowest().socket().close(ec);
  }

  beast::tcp_stream& lowest() { return beast::get_lowest_layer(stream_); }

  Stream stream_;
  beast::flat_buffer buffer_;
  std::optional<http::request_parser<http::string_body>> parser_;
  std::shared_ptr<HttpServer::Impl> server_;
  std::string peer_;
  bool keep_alive_ = false;
  bool reading_ = false;
  bool linger_ = false;
  std::atomic<bool> upgraded_{false};
  std::size_t lingered_ = 0;
  std::string discard_;
  unsigned version_ = 11;
};

void HttpServer::Impl::do_accept() {
  acceptor.async_accept(
      net::make_strand(ioc), [self = shared_from_this()](beast::error_code ec, tcp::socket socket) {
        if (ec) {
          if (ec == net::error::operation_aborted || !self->acceptor.is_open()) return;
          spdlog::warn("accept: {}", ec.message());  // e.g. out of file descriptors: keep going
        } else {
          auto start = [&](auto s) {
            {
              std::lock_guard lock(self->mu);
              self->sessions.insert(s);
            }
            s->run();
          };
          if (self->tls)
            start(std::make_shared<Session<TlsStream>>(
                TlsStream(PlainStream(std::move(socket)), *self->tls), self));
          else
            start(std::make_shared<Session<PlainStream>>(PlainStream(std::move(socket)), self));
        }
        self->do_accept();
      });
}

void HttpServer::Impl::on_session_closed(const std::weak_ptr<SessionBase>& s) {
  std::lock_guard lock(mu);
  sessions.erase(s);
  if (draining && sessions.empty())
    net::post(ioc, [self = shared_from_this()] { self->drain_timer.cancel(); });
}

HttpServer::HttpServer(net::io_context& ioc, net::thread_pool& workers, Handler handler,
                       HttpOptions options)
    : impl_(std::make_shared<Impl>(ioc, workers, std::move(handler), options)) {}

HttpServer::~HttpServer() = default;

void HttpServer::on_upgrade(std::string path, UpgradeHandler handler) {
  impl_->upgrade_path = std::move(path);
  impl_->upgrade = std::move(handler);
}

Result<unsigned short> HttpServer::listen(const std::string& host, const std::string& port) {
  beast::error_code ec;
  if (!impl_->options.tls_cert.empty()) {
    auto& ctx = impl_->tls.emplace(net::ssl::context::tls_server);
    ctx.set_options(net::ssl::context::default_workarounds | net::ssl::context::no_sslv2 |
                    net::ssl::context::no_sslv3 | net::ssl::context::no_tlsv1 |
                    net::ssl::context::no_tlsv1_1);
    ctx.use_certificate_chain_file(impl_->options.tls_cert, ec);
    if (ec)
      return Error{0, "bad_tls",
                   "cannot read certificate " + impl_->options.tls_cert + ": " + ec.message(), ""};
    ctx.use_private_key_file(impl_->options.tls_key, net::ssl::context::pem, ec);
    if (ec)
      return Error{0, "bad_tls", "cannot read key " + impl_->options.tls_key + ": " + ec.message(),
                   ""};
  }
  tcp::resolver resolver(impl_->ioc);
  auto results = resolver.resolve(host, port, ec);
  if (ec || results.empty())
    return Error{0, "bad_listen", "cannot resolve " + host + ":" + port + ": " + ec.message(), ""};
  tcp::endpoint ep = results.begin()->endpoint();
  auto& a = impl_->acceptor;
  a.open(ep.protocol(), ec);
  if (!ec) a.set_option(net::socket_base::reuse_address(true), ec);
  if (!ec) a.bind(ep, ec);
  if (!ec) a.listen(net::socket_base::max_listen_connections, ec);
  if (ec)
    return Error{0, "bad_listen", "cannot listen on " + host + ":" + port + ": " + ec.message(),
                 ""};
  impl_->do_accept();
  return a.local_endpoint().port();
}

void HttpServer::stop() {
  net::post(impl_->ioc, [impl = impl_] {
    if (impl->draining.exchange(true)) return;
    beast::error_code ec;
    impl->acceptor.close(ec);
    std::vector<std::shared_ptr<SessionBase>> live;
    {
      std::lock_guard lock(impl->mu);
      for (auto& w : impl->sessions)
        if (auto s = w.lock()) live.push_back(std::move(s));
    }
    if (live.empty()) return;
    for (auto& s : live) s->drain();
    // Connections still busy after the timeout are cut; the timer is cancelled earlier when
    // the last one closes.
    impl->drain_timer.expires_after(impl->options.drain_timeout);
    impl->drain_timer.async_wait([impl](beast::error_code ec) {
      if (!ec) impl->ioc.stop();
    });
  });
}

}  // namespace portier
