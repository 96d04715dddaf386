#include "client/url.hpp"

namespace portier::client {

std::optional<Url> parse_url(const std::string& text) {
  Url u;
  std::string rest;
  for (auto [scheme, tls] :
       {std::pair{"http://", false}, {"ws://", false}, {"https://", true}, {"wss://", true}}) {
    std::string s = scheme;
    if (text.rfind(s, 0) == 0) {
      u.tls = tls;
      rest = text.substr(s.size());
      break;
    }
  }
  if (rest.empty()) return std::nullopt;
  rest = rest.substr(0, rest.find('/'));
  if (!rest.empty() && rest.front() == '[') {  // [::1]:8080
    auto close = rest.find(']');
    if (close == std::string::npos) return std::nullopt;
    u.host = rest.substr(1, close - 1);
    if (close + 1 < rest.size() && rest[close + 1] == ':') u.port = rest.substr(close + 2);
  } else if (auto colon = rest.rfind(':'); colon != std::string::npos) {
    u.host = rest.substr(0, colon);
    u.port = rest.substr(colon + 1);
  } else {
    u.host = rest;
  }
  if (u.port.empty()) u.port = u.tls ? "443" : "80";
  if (u.host.empty() || u.port.empty()) return std::nullopt;
  return u;
}

}  // namespace portier::client
