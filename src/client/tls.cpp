#include "client/tls.hpp"

namespace portier::client {
namespace ssl = boost::asio::ssl;

Result<std::shared_ptr<ssl::context>> tls_context(const std::string& ca_file) {
  auto ctx = std::make_shared<ssl::context>(ssl::context::tls_client);
  boost::system::error_code ec;
  ctx->set_verify_mode(ssl::verify_peer, ec);
  if (ca_file.empty())
    ctx->set_default_verify_paths(ec);
  else
    ctx->load_verify_file(ca_file, ec);
  if (ec)
    return Error{0, "tls_setup", "cannot load trusted CAs " + ca_file + ": " + ec.message(), ""};
  return ctx;
}

}  // namespace portier::client
