#pragma once
// TLS for the SDK: a client context that verifies the server against the system's CAs (or
// one CA file), and host-name checking with SNI.

#include <openssl/ssl.h>

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl.hpp>
#include <memory>
#include <string>

#include "core/result.hpp"

namespace portier::client {

// Verifies peers; trusts ca_file (PEM) when given, else the system's default CAs.
Result<std::shared_ptr<boost::asio::ssl::context>> tls_context(const std::string& ca_file);

// Sends SNI and checks the certificate names `host`. Call before the handshake. For
// boost::asio::ssl::stream and boost::beast::ssl_stream.
template <class SslStream>
Status verify_server(SslStream& s, const std::string& host) {
  if (!SSL_set_tlsext_host_name(s.native_handle(), host.c_str()))
    return Error{0, "tls_setup", "cannot set the TLS server name " + host, ""};
  s.set_verify_callback(boost::asio::ssl::host_name_verification(host));
  return ok();
}

}  // namespace portier::client
