#include "support/ws.hpp"

#include <cstdio>
#include <cstdlib>

#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/websocket.hpp>

namespace portier::testing {
namespace net = boost::asio;
namespace beast = boost::beast;
namespace websocket = beast::websocket;

struct RawWs::Impl {
  net::io_context ioc;
  websocket::stream<net::ip::tcp::socket> ws{ioc};
};

RawWs::RawWs(unsigned short port) : impl_(std::make_unique<Impl>()) {
  impl_->ws.next_layer().connect({net::ip::make_address("127.0.0.1"), port});
  impl_->ws.read_message_max(256u << 20);
  impl_->ws.handshake("127.0.0.1:" + std::to_string(port), "/v1/stream");
}

RawWs::~RawWs() {
  beast::error_code ec;
  impl_->ws.next_layer().close(ec);
}

void RawWs::send_text(const std::string& text) {
  impl_->ws.text(true);
  impl_->ws.write(net::buffer(text));
}

bool RawWs::try_send_text(const std::string& text) {
  beast::error_code ec;
  impl_->ws.text(true);
  impl_->ws.write(net::buffer(text), ec);
  return !ec;
}

void RawWs::send_binary(const std::string& data) {
  impl_->ws.binary(true);
  impl_->ws.write(net::buffer(data));
}

std::optional<std::string> RawWs::read(std::chrono::milliseconds timeout) {
  if (closed_) return std::nullopt;
  // A read with a deadline: asynchronous, run for at most `timeout` (a blocking read would wait
  // for ever on a quiet connection: Asio retries after SO_RCVTIMEO). Past the deadline the
  // connection is cut, like any other failed read.
  beast::flat_buffer buf;
  beast::error_code ec;
  bool done = false;
  impl_->ws.async_read(buf, [&](beast::error_code e, std::size_t) {
    ec = e;
    done = true;
  });
  impl_->ioc.restart();
  impl_->ioc.run_for(timeout);
  if (!done) {
    beast::error_code ignore;
    impl_->ws.next_layer().close(ignore);
    impl_->ioc.restart();
    impl_->ioc.run();
    ec = beast::error::timeout;
  }
  if (ec) {
    if (std::getenv("PORTIER_WS_DEBUG")) fprintf(stderr, "ws read: %s\n", ec.message().c_str());
    closed_ = true;
    // The close frame's code, when one arrived (even if the teardown after it failed).
    close_code_ = impl_->ws.reason().code;
    return std::nullopt;
  }
  return beast::buffers_to_string(buf.data());
}

boost::json::value RawWs::read_json(std::chrono::milliseconds timeout) {
  auto m = read(timeout);
  if (!m) return nullptr;
  boost::system::error_code ec;
  auto v = boost::json::parse(*m, ec);
  return ec ? boost::json::value(nullptr) : v;
}

int RawWs::read_until_close(std::chrono::milliseconds timeout) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (!closed_ && std::chrono::steady_clock::now() < deadline)
    read(std::chrono::duration_cast<std::chrono::milliseconds>(deadline -
                                                               std::chrono::steady_clock::now()));
  return close_code_;
}

}  // namespace portier::testing
