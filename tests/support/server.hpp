#pragma once
// A real portierd on a temporary data directory and 127.0.0.1:0, and an HTTP client for it.

#include <boost/json.hpp>
#include <map>
#include <memory>
#include <optional>
#include <string>

#include "support/process.hpp"

namespace portier::testing {
namespace json = boost::json;

struct Reply {
  int status = 0;
  json::value body;  // null when the body is empty or not JSON
  std::string raw;
  std::map<std::string, std::string> headers;  // lower-case names
  // body["error"]["code"], or "" when there is none.
  std::string code() const;
  const json::object& obj() const { return body.as_object(); }
};

class Client {
 public:
  Client(std::string host, unsigned short port) : host_(std::move(host)), port_(port) {}
  // One request on a fresh connection. A non-null `body` is sent as JSON unless raw_body is set.
  Reply request(const std::string& method, const std::string& target,
                const json::value& body = nullptr, const std::string& token = "",
                const std::string& content_type = "application/json",
                const std::optional<std::string>& raw_body = std::nullopt);
  Reply get(const std::string& target, const std::string& token = "") {
    return request("GET", target, nullptr, token);
  }
  Reply post(const std::string& target, const json::value& body, const std::string& token = "") {
    return request("POST", target, body, token);
  }
  Reply patch(const std::string& target, const json::value& body, const std::string& token = "") {
    return request("PATCH", target, body, token);
  }
  Reply del(const std::string& target, const std::string& token = "") {
    return request("DELETE", target, nullptr, token);
  }

 private:
  std::string host_;
  unsigned short port_;
};

class Server {
 public:
  Server();
  ~Server();
  const std::string& data_dir() const { return dir_.path(); }
  // Runs `portierd init`; returns its exit code.
  int init(const std::string& org, const std::string& email, const std::string& password);
  // How the next start() runs the child: fd limits, standard error to a file.
  void set_child_options(ChildOptions o) { child_ = std::move(o); }
  // Starts `portierd serve` on 127.0.0.1:0 (or `port`) and waits until it listens.
  void start(const std::vector<std::string>& extra = {}, unsigned short port = 0);
  // Starts again on the port it had, with the flags it had (after stop() or kill()).
  void restart() { start(extra_, port_); }
  pid_t pid() const { return proc_ ? proc_->pid() : -1; }
  // SIGTERM and wait: the exit code.
  int stop();
  // SIGKILL and wait.
  void kill();
  unsigned short port() const { return port_; }
  Client client() const { return Client("127.0.0.1", port_); }
  // Logs in and returns the token; fails the test when login fails.
  std::string login(const std::string& email, const std::string& password);
  // Lines portierd printed before it listened (the demo logins).
  const std::vector<std::string>& banner() const { return banner_; }

 private:
  TempDir dir_;
  std::unique_ptr<Process> proc_;
  unsigned short port_ = 0;
  std::vector<std::string> banner_;
  std::vector<std::string> extra_;
  ChildOptions child_;
};

std::string portierd_path();

}  // namespace portier::testing
