#include "bench/peers.hpp"

#include <pwd.h>
#include <unistd.h>

#include <boost/asio/read.hpp>
#include <boost/asio/write.hpp>
#include <fstream>
#include <stdexcept>
#include <thread>

#include "bench/wire.hpp"

namespace portier::bench {
namespace net = boost::asio;
using tcp = net::ip::tcp;
using namespace std::chrono_literals;

Portierd::Portierd(std::string bin, std::string dir, std::string log,
                   std::vector<std::string> flags)
    : bin_(std::move(bin)), dir_(std::move(dir)), log_(std::move(log)), flags_(std::move(flags)) {}

Portierd::~Portierd() {
  if (child_) child_->stop(15s);
}

void Portierd::init(const std::string& email, const std::string& password) {
  Child c({bin_, "init", "--data", dir_, "--org", "Bench", "--email", email, "--password-stdin"},
          {.pipe_stdin = true, .pipe_stdout = true, .stderr_file = log_});
  c.write(password + "\n");
  c.close_stdin();
  while (c.read_line(30s)) {
  }
  if (int rc = c.wait(30s); rc != 0)
    throw std::runtime_error("portierd init failed (exit " + std::to_string(rc) + "); see " + log_);
}

void Portierd::start(unsigned short port) {
  std::vector<std::string> argv{bin_, "serve",    "--data",
                                dir_, "--listen", "127.0.0.1:" + std::to_string(port)};
  argv.insert(argv.end(), flags_.begin(), flags_.end());
  // The port of a server just stopped may take a moment to be free again.
  for (int attempt = 0;; ++attempt) {
    child_ =
        std::make_unique<Child>(argv, Child::Options{.pipe_stdout = true, .stderr_file = log_});
    // "listening on http://127.0.0.1:PORT" (other lines, like demo logins, come before).
    auto deadline = std::chrono::steady_clock::now() + 60s;
    while (auto line = child_->read_line(std::chrono::duration_cast<std::chrono::milliseconds>(
               deadline - std::chrono::steady_clock::now()))) {
      if (line->rfind("listening on ", 0) != 0) continue;
      port_ = static_cast<unsigned short>(std::stoi(line->substr(line->rfind(':') + 1)));
      return;
    }
    child_->stop(5s);
    child_.reset();
    if (port == 0 || attempt >= 20) throw std::runtime_error("portierd did not start; see " + log_);
    std::this_thread::sleep_for(100ms);
  }
}

int Portierd::stop() {
  if (!child_) return -1;
  int rc = child_->stop(30s);
  child_.reset();
  return rc;
}

Mosquitto::Mosquitto(std::string bin, std::string dir)
    : bin_(std::move(bin)), dir_(std::move(dir)) {}

Mosquitto::~Mosquitto() { stop(); }

void Mosquitto::start() {
  for (int attempt = 0; attempt < 5; ++attempt) {
    port_ = free_port();
    std::string conf = dir_ + "/mosquitto.conf";
    {
      std::ofstream f(conf);
      f << "listener " << port_ << " 127.0.0.1\n"
        << "allow_anonymous true\n"
        << "max_connections -1\n"
        << "persistence false\n"
        << "log_dest stderr\n"
        << "log_type error\n"
        << "log_type warning\n";
      // As root, Mosquitto would switch to its own user, and a process that changes user
      // loses its parent-death signal: it would outlive an aborted bench. Stay who we are.
      if (const auto* pw = ::getpwuid(::geteuid())) f << "user " << pw->pw_name << "\n";
    }
    auto log = dir_ + "/mosquitto.log";
    child_ = std::make_unique<Child>(std::vector<std::string>{bin_, "-c", conf},
                                     Child::Options{.stderr_file = log, .output_file = log});
    auto deadline = std::chrono::steady_clock::now() + 10s;
    while (std::chrono::steady_clock::now() < deadline && child_->running()) {
      net::io_context ioc;
      tcp::socket s(ioc);
      boost::system::error_code ec;
      s.connect(tcp::endpoint(net::ip::make_address("127.0.0.1"), port_), ec);
      if (!ec) return;
      std::this_thread::sleep_for(20ms);
    }
    child_.reset();
  }
  throw std::runtime_error("mosquitto did not start; see " + dir_ + "/mosquitto.log");
}

void Mosquitto::stop() {
  if (child_) child_->stop(10s);
  child_.reset();
}

FloorServer::FloorServer(const std::string& exe) {
  child_ = std::make_unique<Child>(std::vector<std::string>{exe, "floor"},
                                   Child::Options{.pipe_stdin = true, .pipe_stdout = true});
  auto line = child_->read_line(10s);
  if (!line || line->rfind("listening on ", 0) != 0)
    throw std::runtime_error("the floor server did not start");
  port_ = static_cast<unsigned short>(std::stoi(line->substr(13)));
}

FloorServer::~FloorServer() {
  child_->write("quit\n");
  child_->stop(5s);
}

std::string FloorServer::ask(const std::string& line) {
  if (!child_->write(line + "\n")) throw std::runtime_error("the floor server is gone");
  auto answer = child_->read_line(60s);
  if (!answer) throw std::runtime_error("the floor server did not answer " + line);
  return *answer;
}

std::size_t FloorServer::count() { return std::stoul(ask("count").substr(6)); }

bool FloorServer::wait_count(std::size_t n, std::chrono::milliseconds timeout) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (count() < n) {
    if (std::chrono::steady_clock::now() >= deadline) return false;
    std::this_thread::sleep_for(10ms);
  }
  return true;
}

std::int64_t FloorServer::send(std::size_t size, std::int64_t tag) {
  auto a = ask("send " + std::to_string(size) + " " + std::to_string(tag));
  auto space = a.rfind(' ');
  return std::stoll(a.substr(space + 1));
}

void FloorServer::close_all() { ask("close"); }

MqttPublisher::MqttPublisher(unsigned short port) : sock_(ioc_) {
  sock_.connect(tcp::endpoint(net::ip::make_address("127.0.0.1"), port));
  sock_.set_option(tcp::no_delay(true));
  net::write(sock_, net::buffer(mqtt::connect_packet("bench-publisher")));
  char connack[4];
  net::read(sock_, net::buffer(connack));
  if (connack[0] != 0x20 || connack[3] != 0) throw std::runtime_error("MQTT CONNACK refused");
}

std::int64_t MqttPublisher::publish(const std::string& topic, const std::string& payload) {
  auto packet = mqtt::publish_packet(topic, payload);
  auto t = now_ns();
  net::write(sock_, net::buffer(packet));
  return t;
}

}  // namespace portier::bench
