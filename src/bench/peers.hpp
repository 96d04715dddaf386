#pragma once
// The servers the bench starts on loopback and stops at the end (and on failure): its own
// portierd, Mosquitto and the raw floor, plus a minimal MQTT publisher.

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include "bench/proc.hpp"

namespace portier::bench {

class Portierd {
 public:
  // `dir`: the data directory (created by init); logs are appended to `log`.
  Portierd(std::string bin, std::string dir, std::string log, std::vector<std::string> flags);
  ~Portierd();
  // `portierd init` with an owner; throws on failure.
  void init(const std::string& email, const std::string& password);
  // `portierd serve --listen 127.0.0.1:PORT` (0: any), until it says it listens; throws.
  void start(unsigned short port = 0);
  // SIGTERM and wait; the exit status.
  int stop();
  pid_t pid() const { return child_ ? child_->pid() : -1; }
  unsigned short port() const { return port_; }
  const std::string& log() const { return log_; }

 private:
  std::string bin_, dir_, log_;
  std::vector<std::string> flags_;
  std::unique_ptr<Child> child_;
  unsigned short port_ = 0;
};

class Mosquitto {
 public:
  // Writes a config for a free 127.0.0.1 port, anonymous access and no connection limit.
  Mosquitto(std::string bin, std::string dir);
  ~Mosquitto();
  void start();  // waits until it accepts connections; throws
  void stop();
  pid_t pid() const { return child_ ? child_->pid() : -1; }
  unsigned short port() const { return port_; }

 private:
  std::string bin_, dir_;
  std::unique_ptr<Child> child_;
  unsigned short port_ = 0;
};

class FloorServer {
 public:
  explicit FloorServer(const std::string& exe);
  ~FloorServer();
  unsigned short port() const { return port_; }
  pid_t pid() const { return child_->pid(); }
  std::size_t count();
  // Waits until `n` connections are accepted; false at the deadline.
  bool wait_count(std::size_t n, std::chrono::milliseconds timeout);
  // Writes SIZE bytes with the tag to every connection; the floor's own write time in µs.
  std::int64_t send(std::size_t size, std::int64_t tag);
  void close_all();

 private:
  std::string ask(const std::string& line);
  std::unique_ptr<Child> child_;
  unsigned short port_ = 0;
};

// One MQTT 3.1.1 connection that publishes at QoS 0 (blocking, TCP_NODELAY).
class MqttPublisher {
 public:
  explicit MqttPublisher(unsigned short port);
  // Sends the PUBLISH; the time just before the write.
  std::int64_t publish(const std::string& topic, const std::string& payload);

 private:
  boost::asio::io_context ioc_;
  boost::asio::ip::tcp::socket sock_;
};

}  // namespace portier::bench
