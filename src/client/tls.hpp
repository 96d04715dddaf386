#pragma once
// TLS for the SDK: a client context that verifies the server against the system's CAs (or
// one CA file), and host-name checking with SNI.

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl.hpp>
#include <memory>
#include <string>

#include "core/result.hpp"

namespace portier::client {

// Verifies peers; trusts ca_file (PEM) when given, else the system's default CAs.
Result<std::shared_ptr<boost::asio::ssl::context>> tls_context(const std::string& ca_file);

// Sends SNI and checks the certificate names `host`. Call before the handshake.
Status verify_server(boost::asio::ssl::stream<boost::asio::ip::tcp::socket>& s,
                     const std::string& host);

}  // namespace portier::client
