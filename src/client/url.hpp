#pragma once
// "http://host:port/..." and friends, split for connecting.

#include <optional>
#include <string>

namespace portier::client {

struct Url {
  bool tls = false;
  std::string host;
  std::string port;
};

// http://, ws:// (plain) and https://, wss:// (TLS); the port defaults to 80 or 443.
std::optional<Url> parse_url(const std::string& text);

}  // namespace portier::client
