#include "client/tls.hpp"

#include <openssl/ssl.h>

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

Status verify_server(ssl::stream<boost::asio::ip::tcp::socket>& s, const std::string& host) {
  if (!SSL_set_tlsext_host_name(s.native_handle(), host.c_str()))
    return Error{0, "tls_setup", "cannot set the TLS server name " + host, ""};
  s.set_verify_callback(ssl::host_name_verification(host));
  return ok();
}

}  // namespace portier::client
