#include "support/server.hpp"

#include <gtest/gtest.h>
#include <signal.h>

#include <cstdlib>
#include <sstream>

#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

namespace portier::testing {
namespace net = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;

std::string portierd_path() { return PORTIERD_BIN; }

std::string Reply::code() const {
  if (!body.is_object()) return "";
  auto* e = body.as_object().if_contains("error");
  if (!e || !e->is_object()) return "";
  auto* c = e->as_object().if_contains("code");
  return c && c->is_string() ? std::string(c->as_string()) : "";
}

Reply Client::request(const std::string& method, const std::string& target, const json::value& body,
                      const std::string& token, const std::string& content_type,
                      const std::optional<std::string>& raw_body) {
  net::io_context ioc;
  net::ip::tcp::socket sock(ioc);
  sock.connect({net::ip::make_address(host_), port_});
  http::request<http::string_body> req(http::string_to_verb(method), target, 11);
  req.set(http::field::host, host_);
  if (!token.empty()) req.set(http::field::authorization, "Bearer " + token);
  if (raw_body || !body.is_null()) {
    req.set(http::field::content_type, content_type);
    req.body() = raw_body ? *raw_body : json::serialize(body);
  }
  req.prepare_payload();
  http::write(sock, req);
  beast::flat_buffer buf;
  http::response_parser<http::string_body> parser;
  parser.body_limit(64 * 1024 * 1024);
  http::read(sock, buf, parser);
  auto& res = parser.get();
  Reply r;
  r.status = res.result_int();
  r.raw = res.body();
  for (const auto& f : res) {
    std::string name(f.name_string());
    for (auto& ch : name) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
    r.headers[name] = std::string(f.value());
  }
  boost::system::error_code ec;
  if (!r.raw.empty()) r.body = json::parse(r.raw, ec);
  if (ec) r.body = nullptr;
  beast::error_code ignore;
  sock.shutdown(net::ip::tcp::socket::shutdown_both, ignore);
  return r;
}

Server::Server() = default;
Server::~Server() {
  if (proc_ && proc_->running()) proc_->signal(SIGKILL);
}

int Server::init(const std::string& org, const std::string& email, const std::string& password) {
  return run({portierd_path(), "init", "--data", dir_.path(), "--org", org, "--email", email,
              "--password-stdin"},
             password + "\n")
      .first;
}

void Server::start(const std::vector<std::string>& extra, unsigned short port) {
  extra_ = extra;
  std::vector<std::string> argv = {portierd_path(), "serve",
                                   "--data",        dir_.path(),
                                   "--listen",      "127.0.0.1:" + std::to_string(port)};
  argv.insert(argv.end(), extra.begin(), extra.end());
  // PORTIERD_WRAPPER="/usr/bin/gdb -q -batch -ex run -ex bt --args" (or valgrind) for debugging.
  if (const char* w = std::getenv("PORTIERD_WRAPPER"); w && *w) {
    std::vector<std::string> wrapped;
    std::string word;
    for (std::istringstream in(w); in >> word;) wrapped.push_back(word);
    argv.insert(argv.begin(), wrapped.begin(), wrapped.end());
  }
  proc_ = std::make_unique<Process>(argv, child_);
  banner_.clear();
  for (;;) {
    auto line = proc_->read_line(std::chrono::seconds(30));
    ASSERT_TRUE(line) << "portierd did not report listening";
    if (line->rfind("listening on http://127.0.0.1:", 0) == 0 ||
        line->rfind("listening on https://127.0.0.1:", 0) == 0) {
      port_ = static_cast<unsigned short>(std::stoi(line->substr(line->rfind(':') + 1)));
      return;
    }
    banner_.push_back(*line);
  }
}

int Server::stop() {
  proc_->signal(SIGTERM);
  return proc_->wait(std::chrono::seconds(20));
}

void Server::kill() {
  proc_->signal(SIGKILL);
  proc_->wait(std::chrono::seconds(20));
}

std::string Server::login(const std::string& email, const std::string& password) {
  auto r = client().post("/v1/auth/login", json::object{{"email", email}, {"password", password}});
  EXPECT_EQ(r.status, 200) << r.raw;
  if (r.status != 200) return "";
  return std::string(r.obj().at("token").as_string());
}

}  // namespace portier::testing
