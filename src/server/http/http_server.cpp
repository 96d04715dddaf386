#include "server/http/http_server.hpp"

#include "core/error_body.hpp"
#include "server/http/upgrade.hpp"
#include "server/metrics.hpp"

#include <sys/resource.h>

#include <spdlog/spdlog.h>
#include <boost/asio.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <boost/beast/websocket/rfc6455.hpp>
#include <boost/json/serialize.hpp>
#include <mutex>
#include <set>
#include <unordered_map>

namespace portier {
namespace net = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace json = boost::json;
using tcp = net::ip::tcp;

namespace {

Response plain_error(int status, const char* code, const std::string& message) {
  Response r;
  r.status = status;
  r.body = json::serialize(error_body(code, message));
  return r;
}

// TLS 1.2 suites: ECDHE key exchange (forward secrecy) with AEAD ciphers only. TLS 1.3 suites
// are all of that kind already.
constexpr const char* kTls12Ciphers =
    "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:"
    "ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:"
    "ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305";

// Descriptors kept free for the store (database, WAL, shared memory), logs and the event loop.
constexpr std::size_t kFdReserve = 64;

// Why a request's Transfer-Encoding cannot be served (RFC 9112 6.1, 6.3): 0 when it can.
// Chunked must come last, once; any other coding we do not implement.
int transfer_encoding_problem(const http::request<http::string_body>& msg, std::string& why) {
  std::vector<std::string> codings;
  for (auto it = msg.find(http::field::transfer_encoding);
       it != msg.end() && it->name() == http::field::transfer_encoding; ++it) {
    std::string_view v = it->value();
    while (!v.empty()) {
      auto comma = v.find(',');
      auto item = v.substr(0, comma);
      item = item.substr(0, item.find(';'));  // parameters
      while (!item.empty() && (item.front() == ' ' || item.front() == '\t')) item.remove_prefix(1);
      while (!item.empty() && (item.back() == ' ' || item.back() == '\t')) item.remove_suffix(1);
      if (!item.empty()) {
        std::string c(item);
        for (auto& ch : c) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
        codings.push_back(std::move(c));
      }
      v = comma == std::string_view::npos ? std::string_view() : v.substr(comma + 1);
    }
  }
  if (msg.count(http::field::transfer_encoding) == 0) return 0;
  if (codings.empty() || codings.back() != "chunked") {
    why = "a Transfer-Encoding must end in chunked";
    return 400;
  }
  for (std::size_t i = 0; i + 1 < codings.size(); ++i) {
    if (codings[i] == "chunked") {
      why = "chunked is applied once, last";
      return 400;
    }
    why = "transfer coding " + codings[i].substr(0, 40) + " is not supported";
    return 501;
  }
  return 0;
}

}  // namespace

std::size_t raise_fd_limit() {
  rlimit rl{};
  if (getrlimit(RLIMIT_NOFILE, &rl) != 0) return 1024;
  if (rl.rlim_cur < rl.rlim_max) {
    rlimit raised = rl;
    raised.rlim_cur = rl.rlim_max;
    if (setrlimit(RLIMIT_NOFILE, &raised) == 0) rl = raised;
  }
  return rl.rlim_cur == RLIM_INFINITY ? std::size_t(1) << 20
                                      : static_cast<std::size_t>(rl.rlim_cur);
}

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
        options(std::move(options)),
        acceptor(ioc),
        drain_timer(ioc),
        accept_timer(ioc) {}

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
  std::optional<net::ssl::context> tls;                      // set: every connection speaks TLS
  std::unordered_map<std::string, std::size_t> per_address;  // live HTTP connections (mu)

  // Only the accept chain (one handler at a time) touches these.
  net::steady_timer accept_timer;
  std::chrono::milliseconds backoff{0};
  std::function<std::size_t()> upgraded;  // connections the gateway holds
  Metrics* metrics = nullptr;
  // At most one log line per interval for an event that can repeat many times a second.
  struct LogThrottle {
    std::mutex mu;
    std::chrono::steady_clock::time_point last{};
    std::uint64_t since = 0;
    // The number of events since the last line (this one included) when a line is due, else 0.
    std::uint64_t due(std::chrono::seconds interval) {
      std::lock_guard lock(mu);
      ++since;
      auto now = std::chrono::steady_clock::now();
      if (last != std::chrono::steady_clock::time_point{} && now - last < interval) return 0;
      last = now;
      return std::exchange(since, 0);
    }
  };
  LogThrottle fd_log, cap_log;

  void do_accept();
  void pause_accepting(const beast::error_code& ec);
  void admit(tcp::socket socket);
  void refuse(tcp::socket& socket, const char* reason);
  void on_session_closed(const std::weak_ptr<SessionBase>& s, const std::string& address);
};

template <class Stream>
class Session : public SessionBase, public std::enable_shared_from_this<Session<Stream>> {
 public:
  // `peer` is the remote address, counted against the per-address cap until the session ends.
  Session(Stream stream, std::shared_ptr<HttpServer::Impl> server, std::string peer)
      : stream_(std::move(stream)), server_(std::move(server)), peer_(std::move(peer)) {}
  // NOLINTNEXTLINE(bugprone-exception-escape): only a broken mutex throws here; terminate then.
  ~Session() override { server_->on_session_closed(this->weak_from_this(), peer_); }

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
    // The larger limit until the target is known (Beast checks a Content-Length against it as
    // the header completes); then the route's own.
    parser_->body_limit(
        std::max(server_->options.max_body_bytes, server_->options.large_body_bytes));
    parser_->header_limit(16 * 1024);
    lowest().expires_after(server_->options.idle_timeout);
    reading_ = true;
    // The header first: a few routes (a batch import) take larger bodies than the rest.
    http::async_read_header(stream_, buffer_, *parser_,
                            [self = this->shared_from_this()](beast::error_code ec, std::size_t n) {
                              if (ec) return self->on_read(ec, n);
                              std::string_view target = self->parser_->get().target();
                              const auto& o = self->server_->options;
                              if (o.large_body_path.empty() ||
                                  target.substr(0, target.find('?')) != o.large_body_path) {
                                auto length = self->parser_->content_length();
                                if (length && *length > o.max_body_bytes)
                                  return self->on_read(http::error::body_limit, n);
                                self->parser_->body_limit(o.max_body_bytes);
                              }
                              http::async_read(self->stream_, self->buffer_, *self->parser_,
                                               beast::bind_front_handler(&Session::on_read, self));
                            });
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
    // A body framed by a coding we do not read would run as the next request (smuggling):
    // refuse, and hang up so nothing after it is read as a request.
    std::string why;
    if (int status = transfer_encoding_problem(msg, why)) {
      keep_alive_ = false;
      linger_ = true;
      return do_write(plain_error(status, status == 400 ? "bad_request" : "not_implemented", why));
    }
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
  acceptor.async_accept(net::make_strand(ioc), [self = shared_from_this()](beast::error_code ec,
                                                                           tcp::socket socket) {
    if (ec) {
      if (ec == net::error::operation_aborted || !self->acceptor.is_open()) return;
      if (ec == net::error::no_descriptors || ec == net::error::no_buffer_space ||
          ec == net::error::no_memory || ec == boost::system::errc::too_many_files_open_in_system)
        return self->pause_accepting(ec);
      spdlog::debug("accept: {}", ec.message());  // the peer gave up: next
    } else {
      self->backoff = std::chrono::milliseconds(0);
      self->admit(std::move(socket));
    }
    self->do_accept();
  });
}

// Out of descriptors the pending connection stays queued and the listening socket stays
// readable: accepting again at once would spin. Wait, longer each time (10 ms to 1 s), while
// connections close; a line in the log every 10 s at most.
void HttpServer::Impl::pause_accepting(const beast::error_code& ec) {
  backoff = std::clamp(backoff * 2, std::chrono::milliseconds(10), std::chrono::milliseconds(1000));
  if (metrics) metrics->count("portier_http_accept_errors_total", "error=\"" + ec.message() + "\"");
  if (auto n = fd_log.due(std::chrono::seconds(10)))
    spdlog::error(
        "accept: out of file descriptors ({}; {} time(s) since the last line): pausing accepts; "
        "raise the open-files limit or lower --max-connections",
        ec.message(), n);
  accept_timer.expires_after(backoff);
  accept_timer.async_wait([self = shared_from_this()](beast::error_code ec) {
    if (ec || !self->acceptor.is_open()) return;
    self->do_accept();
  });
}

void HttpServer::Impl::admit(tcp::socket socket) {
  beast::error_code ec;
  // Small frames go out at once: a push right after another small frame would otherwise wait
  // for the client's delayed ACK (~40 ms).
  socket.set_option(tcp::no_delay(true), ec);
  auto ep = socket.remote_endpoint(ec);
  std::string address = ec ? std::string() : ep.address().to_string();
  const char* refused = nullptr;
  // Read before taking mu: the gateway's count takes its own lock, never nested in ours.
  std::size_t push = upgraded ? upgraded() : 0;
  {
    std::lock_guard lock(mu);
    std::size_t total = sessions.size() + push;
    auto& mine = per_address[address];
    if (total >= options.max_connections)
      refused = "total";
    else if (options.max_connections_per_address && mine >= options.max_connections_per_address)
      refused = "per_address";
    else
      ++mine;
    if (refused && mine == 0) per_address.erase(address);
  }
  if (refused) {
    if (auto n = cap_log.due(std::chrono::seconds(10)))
      spdlog::warn("connections: refusing {} ({} cap; {} refused since the last line)", address,
                   refused, n);
    return refuse(socket, refused);
  }
  auto start = [&](auto s) {
    {
      std::lock_guard lock(mu);
      sessions.insert(s);
    }
    s->run();
  };
  if (tls)
    start(std::make_shared<Session<TlsStream>>(TlsStream(PlainStream(std::move(socket)), *tls),
                                               shared_from_this(), std::move(address)));
  else
    start(std::make_shared<Session<PlainStream>>(PlainStream(std::move(socket)), shared_from_this(),
                                                 std::move(address)));
}

// Closes a connection over a cap at once; plain HTTP first gets a 503 saying why (best
// effort: the socket buffer takes it without blocking).
void HttpServer::Impl::refuse(tcp::socket& socket, const char* reason) {
  if (metrics)
    metrics->count("portier_http_connections_refused_total",
                   std::string("reason=\"") + reason + "\"");
  beast::error_code ec;
  if (!tls) {
    static const std::string body = json::serialize(error_body(
        "too_many_connections", "too many open connections; close idle ones or try again later"));
    static const std::string response =
        "HTTP/1.1 503 Service Unavailable\r\nServer: portierd\r\nContent-Type: "
        "application/json\r\nRetry-After: 1\r\nConnection: close\r\nContent-Length: " +
        std::to_string(body.size()) + "\r\n\r\n" + body;
    socket.non_blocking(true, ec);
    // Read what already arrived, so that closing does not reset the connection.
    std::array<char, 4096> sink;
    for (int i = 0; i < 16 && !ec; ++i) socket.read_some(net::buffer(sink), ec);
    socket.write_some(net::buffer(response), ec);
  }
  socket.shutdown(tcp::socket::shutdown_both, ec);
  socket.close(ec);
}

void HttpServer::Impl::on_session_closed(const std::weak_ptr<SessionBase>& s,
                                         const std::string& address) {
  std::lock_guard lock(mu);
  sessions.erase(s);
  if (auto it = per_address.find(address); it != per_address.end() && --it->second == 0)
    per_address.erase(it);
  if (draining && sessions.empty())
    net::post(ioc, [self = shared_from_this()] { self->drain_timer.cancel(); });
}

HttpServer::HttpServer(net::io_context& ioc, net::thread_pool& workers, Handler handler,
                       HttpOptions options)
    : impl_(std::make_shared<Impl>(ioc, workers, std::move(handler), std::move(options))) {}

HttpServer::~HttpServer() = default;

void HttpServer::on_upgrade(std::string path, UpgradeHandler handler) {
  impl_->upgrade_path = std::move(path);
  impl_->upgrade = std::move(handler);
}

void HttpServer::count_upgraded(std::function<std::size_t()> live) {
  impl_->upgraded = std::move(live);
}

void HttpServer::set_metrics(Metrics* metrics) {
  impl_->metrics = metrics;
  metrics->gauge("portier_http_connections", [w = std::weak_ptr<Impl>(impl_)] {
    auto impl = w.lock();
    if (!impl) return 0.0;
    std::lock_guard lock(impl->mu);
    return static_cast<double>(impl->sessions.size());
  });
}

Result<unsigned short> HttpServer::listen(const std::string& host, const std::string& port) {
  beast::error_code ec;
  if (!impl_->options.tls_cert.empty()) {
    auto& ctx = impl_->tls.emplace(net::ssl::context::tls_server);
    ctx.set_options(net::ssl::context::default_workarounds | net::ssl::context::no_sslv2 |
                    net::ssl::context::no_sslv3 | net::ssl::context::no_tlsv1 |
                    net::ssl::context::no_tlsv1_1);
    if (SSL_CTX_set_cipher_list(ctx.native_handle(), kTls12Ciphers) != 1)
      return Error{0, "bad_tls", "this OpenSSL offers none of the TLS 1.2 ECDHE AEAD suites", ""};
    ctx.use_certificate_chain_file(impl_->options.tls_cert, ec);
    if (ec)
      return Error{0, "bad_tls",
                   "cannot read certificate " + impl_->options.tls_cert + ": " + ec.message(), ""};
    ctx.use_private_key_file(impl_->options.tls_key, net::ssl::context::pem, ec);
    if (ec)
      return Error{0, "bad_tls", "cannot read key " + impl_->options.tls_key + ": " + ec.message(),
                   ""};
  }
  if (impl_->options.max_connections == 0) {
    rlimit rl{};
    std::size_t fds = getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY
                          ? static_cast<std::size_t>(rl.rlim_cur)
                          : std::size_t(1) << 20;
    impl_->options.max_connections =
        std::max<std::size_t>(16, fds > kFdReserve * 2 ? fds - kFdReserve : fds / 2);
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
    impl->accept_timer.cancel();
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
