#pragma once
// Plain request/response values passed between the HTTP transport (Beast, in
// http_server.cpp only) and the API, so API code never includes Beast.

#include <functional>
#include <string>
#include <utility>
#include <vector>

namespace portier {

struct Request {
  std::string method;  // "GET", "POST", …
  std::string target;  // path and query, as sent
  std::string body;
  std::string content_type;
  std::string authorization;
  std::string accept_encoding;  // for pre-compressed web files
  std::string peer;             // remote address, for rate limiting
};

struct Response {
  int status = 200;
  std::string body;
  std::string content_type = "application/json";
  std::vector<std::pair<std::string, std::string>> headers;
  std::string route;  // the matched route pattern, for metrics ("/v1/sites/{id}")
};

// Delivers a request's response, from any thread, exactly once. Handlers that wait for
// something (a door unit's answer) keep it and call it later.
using Respond = std::function<void(Response)>;

}  // namespace portier
