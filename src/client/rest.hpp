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
  // ca_file: for https://, trust this CA (PEM) instead of the system's.
  explicit RestClient(std::string url, std::string ca_file = "")
      : url_(std::move(url)), ca_file_(std::move(ca_file)) {}
  // One request; Error{0, "connection_failed", …} when the server cannot be reached.
  Result<RestReply> request(const std::string& method, const std::string& target,
                            const boost::json::value& body = nullptr,
                            const std::string& token = "");

 private:
  std::string url_;
  std::string ca_file_;
};

}  // namespace portier::client
