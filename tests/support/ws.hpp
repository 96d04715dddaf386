#pragma once
// A raw WebSocket client for protocol tests: sends exactly what a test says, reads with a
// deadline, reports close codes.

#include <boost/json.hpp>
#include <chrono>
#include <memory>
#include <optional>
#include <string>

namespace portier::testing {

class RawWs {
 public:
  explicit RawWs(unsigned short port);
  ~RawWs();
  void send_text(const std::string& text);
  // Like send_text, but reports a connection the server already cut instead of throwing.
  bool try_send_text(const std::string& text);
  void send_binary(const std::string& data);
  void send_json(const boost::json::value& v) { send_text(boost::json::serialize(v)); }
  // The next text message, or nullopt when the connection closed or the timeout passed.
  std::optional<std::string> read(std::chrono::milliseconds timeout = std::chrono::seconds(10));
  // The next message parsed as a JSON object (null on close/timeout).
  boost::json::value read_json(std::chrono::milliseconds timeout = std::chrono::seconds(10));
  // Reads until the server closes; returns its close code (0 if it never sent one).
  int read_until_close(std::chrono::milliseconds timeout = std::chrono::seconds(20));
  int close_code() const { return close_code_; }
  bool closed() const { return closed_; }

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
  int close_code_ = 0;
  bool closed_ = false;
};

}  // namespace portier::testing
