#include "support/fake_push.hpp"

#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/websocket.hpp>
#include <optional>

namespace portier::testing {
namespace net = boost::asio;
namespace beast = boost::beast;
namespace websocket = beast::websocket;
namespace json = boost::json;
using tcp = net::ip::tcp;

struct FakePushServer::Impl {
  net::io_context ioc;
  tcp::acceptor acceptor{ioc, {net::ip::make_address("127.0.0.1"), 0}};
  std::unique_ptr<websocket::stream<tcp::socket>> ws;

  // Runs the io_context until `done` or the deadline; false on the deadline.
  bool run_until(const bool& done, std::chrono::milliseconds timeout) {
    auto deadline = std::chrono::steady_clock::now() + timeout;
    ioc.restart();
    while (!done && std::chrono::steady_clock::now() < deadline) ioc.run_one_until(deadline);
    return done;
  }
};

FakePushServer::FakePushServer() : impl_(std::make_unique<Impl>()) {}
// NOLINTNEXTLINE(bugprone-exception-escape): a broken fixture may end the test run.
FakePushServer::~FakePushServer() { drop(); }

unsigned short FakePushServer::port() const { return impl_->acceptor.local_endpoint().port(); }
std::string FakePushServer::url() const { return "http://127.0.0.1:" + std::to_string(port()); }

bool FakePushServer::accept(std::chrono::milliseconds timeout) {
  drop();
  closed_ = false;
  std::optional<tcp::socket> sock;
  bool done = false;
  impl_->acceptor.async_accept([&](beast::error_code ec, tcp::socket s) {
    if (!ec) sock = std::move(s);
    done = true;
  });
  if (!impl_->run_until(done, timeout)) {
    impl_->acceptor.cancel();
    impl_->ioc.restart();
    impl_->ioc.run();
    return false;
  }
  if (!sock) return false;
  impl_->ws = std::make_unique<websocket::stream<tcp::socket>>(std::move(*sock));
  bool accepted = false;
  beast::error_code aec;
  impl_->ws->async_accept([&](beast::error_code ec) {
    aec = ec;
    accepted = true;
  });
  if (!impl_->run_until(accepted, timeout) || aec) {
    drop();
    return false;
  }
  return true;
}

json::value FakePushServer::read(std::chrono::milliseconds timeout) {
  if (!impl_->ws) return nullptr;
  beast::flat_buffer buf;
  beast::error_code ec;
  bool done = false;
  impl_->ws->async_read(buf, [&](beast::error_code e, std::size_t) {
    ec = e;
    done = true;
  });
  if (!impl_->run_until(done, timeout)) {
    // Past the deadline: cut the connection (a read cannot be abandoned and resumed).
    drop();
    return nullptr;
  }
  if (ec) {
    closed_ = true;
    return nullptr;
  }
  boost::system::error_code pec;
  auto v = json::parse(beast::buffers_to_string(buf.data()), pec);
  return pec ? json::value(nullptr) : v;
}

json::value FakePushServer::read_type(const std::string& type, std::chrono::milliseconds timeout) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) return nullptr;
    auto m = read(left);
    if (m.is_null()) return m;
    if (m.is_object() && m.as_object().contains("type") && m.at("type") == json::value(type))
      return m;
  }
}

void FakePushServer::send(const json::value& message) { send_text(json::serialize(message)); }

void FakePushServer::send_text(const std::string& text) {
  if (!impl_->ws) return;
  impl_->ws->text(true);
  beast::error_code ec;
  impl_->ws->write(net::buffer(text), ec);
  if (ec) closed_ = true;
}

void FakePushServer::close(std::uint16_t code, std::chrono::milliseconds timeout) {
  if (!impl_->ws) return;
  bool done = false;
  impl_->ws->async_close(websocket::close_reason(code), [&](beast::error_code) { done = true; });
  impl_->run_until(done, timeout);
  closed_ = true;
  drop();
}

void FakePushServer::drop() {
  if (!impl_->ws) return;
  beast::error_code ignore;
  impl_->ws->next_layer().close(ignore);
  impl_->ioc.restart();
  impl_->ioc.run();  // lets cancelled handlers finish
  impl_->ws.reset();
}

}  // namespace portier::testing
