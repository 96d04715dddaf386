// portier-unit against a scripted push server: the test plays the server, so it can send what
// a real one never would — the same command twice, a command already expired, a door that is
// not the unit's — and check that the relay pulses exactly once, also across a restart.
#include <signal.h>

#include <gtest/gtest.h>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/websocket.hpp>
#include <boost/json.hpp>
#include <filesystem>
#include <fstream>
#include <thread>

#include "support/process.hpp"

namespace portier::testing {
namespace {

namespace net = boost::asio;
namespace beast = boost::beast;
namespace websocket = beast::websocket;
namespace json = boost::json;
using tcp = net::ip::tcp;
using namespace std::chrono_literals;

std::string in(std::chrono::milliseconds d) {
  auto t =
      std::chrono::time_point_cast<std::chrono::milliseconds>(std::chrono::system_clock::now() + d);
  auto secs = std::chrono::system_clock::to_time_t(std::chrono::floor<std::chrono::seconds>(t));
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%S", std::gmtime(&secs));
  char ms[8];
  std::snprintf(ms, sizeof ms, ".%03dZ", static_cast<int>(t.time_since_epoch().count() % 1000));
  return std::string(buf) + ms;
}

// One scripted server connection at a time.
class FakeServer {
 public:
  FakeServer() : acceptor_(ioc_, {net::ip::make_address("127.0.0.1"), 0}) {}
  unsigned short port() const { return acceptor_.local_endpoint().port(); }

  // Waits for the unit to connect and send hello; answers ready and a snapshot of its feed
  // (the unit record driving `door`). False when no unit came in time.
  bool accept(const std::string& unit_id, const std::string& door,
              std::chrono::milliseconds clock_ahead = std::chrono::milliseconds(0)) {
    std::optional<tcp::socket> sock;
    acceptor_.async_accept([&](beast::error_code ec, tcp::socket s) {
      if (!ec) sock = std::move(s);
    });
    ioc_.restart();
    ioc_.run_for(std::chrono::seconds(10));
    if (!sock) return false;
    ws_ = std::make_unique<websocket::stream<tcp::socket>>(std::move(*sock));
    ws_->accept();
    auto hello = read(5s);
    if (hello.is_null() || hello.at("type") != "hello") return false;
    hello_ = hello;
    std::string feed = "unit/" + unit_id;
    send({{"type", "ready"},
          {"session", "sess_fake"},
          {"server_time", in(clock_ahead)},
          {"identity",
           {{"kind", "unit"}, {"id", unit_id}, {"org_id", "org_fake"}, {"role", "unit"}}},
          {"feeds", json::array{json::object{
                        {"feed", feed}, {"epoch", "e1"}, {"seq", 1}, {"resumed", false}}}}});
    send({{"type", "snapshot"},
          {"feed", feed},
          {"epoch", "e1"},
          {"seq", 1},
          {"records",
           json::array{json::object{
               {"kind", "unit"},
               {"record", {{"id", unit_id}, {"name", "U"}, {"door_ids", json::array{door}}}}}}}});
    return true;
  }
  void send(const json::object& m) { send_raw(json::serialize(m)); }
  void send_raw(const std::string& text) {
    ws_->text(true);
    ws_->write(net::buffer(text));
  }
  // The next message (null on timeout or close).
  json::value read(std::chrono::milliseconds timeout) {
    beast::flat_buffer buf;
    beast::error_code ec;
    bool done = false;
    ws_->async_read(buf, [&](beast::error_code e, std::size_t) {
      ec = e;
      done = true;
    });
    ioc_.restart();
    ioc_.run_for(timeout);
    if (!done) {  // past the deadline: cut the connection
      beast::error_code ignore;
      ws_->next_layer().close(ignore);
      ioc_.restart();
      ioc_.run();
      return nullptr;
    }
    if (ec) return nullptr;
    return json::parse(beast::buffers_to_string(buf.data()));
  }
  // The unit's answer to a command (acks skipped).
  json::value result(std::chrono::milliseconds timeout = 5s) {
    for (;;) {
      auto m = read(timeout);
      if (m.is_null() || m.at("type") == "result") return m;
    }
  }
  void drop() { ws_.reset(); }
  // The last hello a unit sent.
  const json::value& hello() const { return hello_; }

 private:
  net::io_context ioc_;
  tcp::acceptor acceptor_;
  std::unique_ptr<websocket::stream<tcp::socket>> ws_;
  json::value hello_;
};

TEST(UnitAgent, ACommandPulsesOnceEverAndExpiredOrForeignOnesNever) {
  FakeServer server;
  TempDir dir;
  std::string state = dir.path() + "/unit";
  std::filesystem::create_directories(state);
  std::ofstream(state + "/unit.json") << json::serialize(
      json::object{{"server", "http://127.0.0.1:" + std::to_string(server.port())},
                   {"unit_id", "unit_fake"},
                   {"credential", "ptu_fake"},
                   {"ca_file", ""}});
  auto cmd = [](const std::string& id, const std::string& door, const std::string& expires) {
    return json::object{{"type", "command"},
                        {"id", id},
                        {"door", door},
                        {"pulse_ms", 700},
                        {"expires_at", expires}};
  };
  {
    Process unit({PORTIER_UNIT_BIN, "run", "--state", state});
    ASSERT_TRUE(server.accept("unit_fake", "door_a"));
    // It names itself by its unit id: two units' receipts are two devices.
    EXPECT_EQ(server.hello().at("device").at("id"), "unit_fake");
    EXPECT_EQ(server.hello().at("device").at("kind"), "unit");
    server.send(cmd("cmd_1", "door_a", in(5s)));
    auto r = server.result();
    ASSERT_FALSE(r.is_null());
    EXPECT_EQ(r.at("id"), "cmd_1");
    EXPECT_EQ(r.at("result"), "opened");
    server.send(cmd("cmd_1", "door_a", in(5s)));  // the same id again
    EXPECT_EQ(server.result().at("result"), "duplicate");
    server.send(cmd("cmd_2", "door_a", in(-1s)));  // already expired
    EXPECT_EQ(server.result().at("result"), "expired");
    server.send(cmd("cmd_3", "door_b", in(5s)));  // not this unit's door
    EXPECT_EQ(server.result().at("result"), "failed");
    // Garbage does not stop it.
    server.send({{"type", "command"}, {"id", 7}});
    server.send(cmd("cmd_4", "door_a", in(5s)));
    EXPECT_EQ(server.result().at("result"), "opened");
    unit.signal(SIGKILL);
    unit.wait(5s);
  }
  server.drop();
  // After a crash, a command id seen before is still refused.
  Process unit({PORTIER_UNIT_BIN, "run", "--state", state});
  ASSERT_TRUE(server.accept("unit_fake", "door_a"));
  server.send(cmd("cmd_1", "door_a", in(5s)));
  EXPECT_EQ(server.result().at("result"), "duplicate");
  auto pulses = read_lines(state + "/sim/relay.log");
  ASSERT_EQ(pulses.size(), 2u);
  EXPECT_NE(pulses[0].find("pulse door_a 700ms cmd_1"), std::string::npos) << pulses[0];
  EXPECT_NE(pulses[1].find("pulse door_a 700ms cmd_4"), std::string::npos) << pulses[1];
  unit.signal(SIGKILL);
  unit.wait(5s);
  server.drop();
  // A unit whose clock runs behind the server's: a command the server already gave up on is
  // expired by the server's clock (from ready), though not yet by the unit's own.
  Process late({PORTIER_UNIT_BIN, "run", "--state", state});
  ASSERT_TRUE(server.accept("unit_fake", "door_a", std::chrono::minutes(10)));
  server.send(cmd("cmd_5", "door_a", in(std::chrono::minutes(5))));
  EXPECT_EQ(server.result().at("result"), "expired");
  EXPECT_EQ(read_lines(state + "/sim/relay.log").size(), 2u);
}

// Issue 10 §5: a malformed or newer-protocol message from the server never stops the door
// agent: it logs and skips what it cannot use, reconnects when its replica is at stake, and
// keeps serving commands.
TEST(UnitAgent, MalformedServerMessagesNeverStopTheAgent) {
  FakeServer server;
  TempDir dir;
  std::string state = dir.path() + "/unit";
  std::filesystem::create_directories(state);
  std::ofstream(state + "/unit.json") << json::serialize(
      json::object{{"server", "http://127.0.0.1:" + std::to_string(server.port())},
                   {"unit_id", "unit_fake"},
                   {"credential", "ptu_fake"},
                   {"ca_file", ""}});
  Process unit({PORTIER_UNIT_BIN, "run", "--state", state});
  ASSERT_TRUE(server.accept("unit_fake", "door_a"));
  for (const char* text :
       {"not json", "[]", R"({"type":false})", R"({"type":"event_saved"})",
        R"({"type":"event_saved","id":12})", R"({"type":"error","id":3,"code":null})",
        R"({"type":"ready"})", R"({"type":"ready","server_time":5,"feeds":{}})",
        R"({"type":"command","id":"cmd_x","door":"door_a","pulse_ms":"700"})",
        R"({"type":"news","from":"a newer server"})", R"({"type":"device"})"})
    server.send_raw(text);
  // A change it cannot apply: it reconnects with its cursor instead of dying.
  server.send_raw(R"({"type":"change","feed":"unit/unit_fake","epoch":"e1","seq":2})");
  ASSERT_TRUE(server.accept("unit_fake", "door_a")) << "the agent did not come back";
  server.send({{"type", "command"},
               {"id", "cmd_ok"},
               {"door", "door_a"},
               {"pulse_ms", 700},
               {"expires_at", in(5s)}});
  auto r = server.result();
  ASSERT_FALSE(r.is_null()) << "the agent stopped";
  EXPECT_EQ(r.at("result"), "opened");
  EXPECT_EQ(read_lines(state + "/sim/relay.log").size(), 1u);  // cmd_x (a bad pulse_ms) never ran
  EXPECT_EQ(unit.wait(0ms), -1);                               // still running
}

// Answers one HTTP request on 127.0.0.1 with this status and body, on a thread of its own.
class OneHttpAnswer {
 public:
  OneHttpAnswer(unsigned status, std::string body)
      : acceptor_(ioc_, {net::ip::make_address("127.0.0.1"), 0}) {
    thread_ = std::thread([this, status, body = std::move(body)] {
      beast::error_code ec;
      tcp::socket sock(ioc_);
      acceptor_.accept(sock, ec);
      if (ec) return;
      beast::flat_buffer buf;
      beast::http::request<beast::http::string_body> req;
      beast::http::read(sock, buf, req, ec);
      beast::http::response<beast::http::string_body> res{static_cast<beast::http::status>(status),
                                                          11};
      res.set(beast::http::field::content_type, "application/json");
      res.body() = body;
      res.prepare_payload();
      beast::http::write(sock, res, ec);
      sock.shutdown(tcp::socket::shutdown_both, ec);
    });
  }
  ~OneHttpAnswer() {
    beast::error_code ignore;
    acceptor_.close(ignore);  // a test that never connected does not hang here
    thread_.join();
  }
  std::string url() const {
    return "http://127.0.0.1:" + std::to_string(acceptor_.local_endpoint().port());
  }

 private:
  net::io_context ioc_;
  tcp::acceptor acceptor_;
  std::thread thread_;
};

// Issue 10 §5: the unit's enroll read the server's answer with throwing accessors, so an
// answer of another shape aborted it. Now it says what is wrong and exits 1, saving nothing.
TEST(UnitAgent, AnEnrollAnswerOfAnotherShapeIsAnErrorNotACrash) {
  for (auto [status, body] : std::vector<std::pair<unsigned, std::string>>{
           {200, "{}"},
           {200, R"({"unit_id":7,"token":["x"]})"},
           {200, "[]"},
           {400, R"({"error":{"code":5,"message":null}})"},
           {400, R"({"error":"bad"})"}}) {
    OneHttpAnswer server(status, body);
    TempDir dir;
    auto [rc, out] = run({PORTIER_UNIT_BIN, "enroll", "--server", server.url(), "--code", "ENROLL",
                          "--state", dir.path()},
                         "", 10s);
    EXPECT_EQ(rc, 1) << status << " " << body;
    EXPECT_FALSE(std::filesystem::exists(dir.path() + "/unit.json")) << body;
  }
}

}  // namespace
}  // namespace portier::testing
