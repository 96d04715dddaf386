#pragma once
// A small blocking client of the REST API, for the CLI and tools.

#include <boost/json/value.hpp>
#include <string>

#include "core/result.hpp"

namespace portier::client {

struct RestReply {
  int status = 0;
  boost::json::value body;  // null when empty or not JSON
  std::string raw;
};

class RestClient {
 public:
  explicit RestClient(std::string url) : url_(std::move(url)) {}
  // One request; Error{0, "connection_failed", …} when the server cannot be reached.
  Result<RestReply> request(const std::string& method, const std::string& target,
                            const boost::json::value& body = nullptr, const std::string& token = "");

 private:
  std::string url_;
};

}  // namespace portier::client
