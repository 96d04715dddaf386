#pragma once
// A scripted push server for client tests: the test plays the server, one connection at a
// time, and can send what a real one never would (malformed, newer-protocol or out-of-order
// messages). Every wait has a deadline.

#include <boost/json.hpp>
#include <chrono>
#include <cstdint>
#include <memory>
#include <string>

namespace portier::testing {

class FakePushServer {
 public:
  FakePushServer();
  ~FakePushServer();  // NOLINT(bugprone-exception-escape): a broken fixture may end the test
  unsigned short port() const;
  std::string url() const;  // http://127.0.0.1:PORT

  // Waits for the next client connection and its WebSocket upgrade (dropping the one before).
  bool accept(std::chrono::milliseconds timeout = std::chrono::seconds(10));
  // The next message from the client: null on timeout, on close, or when it is not JSON.
  boost::json::value read(std::chrono::milliseconds timeout = std::chrono::seconds(5));
  // Reads until a message of this type (others are skipped); null when none came in time.
  boost::json::value read_type(const std::string& type,
                               std::chrono::milliseconds timeout = std::chrono::seconds(5));
  void send(const boost::json::value& message);
  void send_text(const std::string& text);
  // Whether the client has closed the connection (seen by the last read).
  bool closed() const { return closed_; }
  // Closes the connection with a close frame carrying this code (and waits for the answer).
  void close(std::uint16_t code, std::chrono::milliseconds timeout = std::chrono::seconds(5));
  // Cuts the connection.
  void drop();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
  bool closed_ = false;
};

}  // namespace portier::testing
