// The push gateway's defects found by issue 10 (sections 2 and 6), each pinned by a test: a
// WebSocket whose handshake fails, device ids, a unit's event errors, sessions per token, and
// a unit that drops with a command in flight.
#include <poll.h>
#include <sys/socket.h>

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/write.hpp>
#include <future>

#include "fixture.hpp"
#include "support/eventually.hpp"
#include "support/ws.hpp"

namespace portier::testing {
namespace {

namespace net = boost::asio;
using tcp = net::ip::tcp;
using namespace std::chrono_literals;

std::string code(const json::value& v) {
  return v.is_object() && v.as_object().contains("code") ? std::string(v.at("code").as_string())
                                                         : "";
}

// The value of a metric line `name value` (or `name{labels} value`) in /metrics, or -1.
double metric(Client c, const std::string& name) {
  auto text = c.request("GET", "/metrics").raw;
  auto at = text.find("\n" + name + " ");
  if (at == std::string::npos) return -1;
  return std::stod(text.substr(at + name.size() + 2));
}

class Gateway : public ApiTest {
 protected:
  void SetUp() override {
    ApiTest::SetUp();
    std::tie(maria_, maria_token_) = person("maria@one.test");
  }
  // Sends raw bytes on a fresh TCP connection; returns what the server sent until it closed the
  // connection (closed = true) or sent nothing for `timeout`.
  std::string exchange(const std::string& bytes, bool& closed, std::chrono::milliseconds timeout) {
    net::io_context ioc;
    tcp::socket sock(ioc);
    sock.connect({net::ip::make_address("127.0.0.1"), server_.port()});
    net::write(sock, net::buffer(bytes));
    std::string out;
    closed = false;
    auto deadline = std::chrono::steady_clock::now() + timeout;
    for (;;) {
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
          deadline - std::chrono::steady_clock::now());
      pollfd p{sock.native_handle(), POLLIN, 0};
      if (::poll(&p, 1, static_cast<int>(std::max<std::int64_t>(0, left.count()))) <= 0) return out;
      char buf[4096];
      auto n = ::recv(sock.native_handle(), buf, sizeof buf, 0);
      if (n <= 0) {
        closed = true;
        return out;
      }
      out.append(buf, static_cast<std::size_t>(n));
    }
  }
  json::object hello(const std::string& token) { return {{"type", "hello"}, {"token", token}}; }
  std::string maria_, maria_token_;
};

// Issue 10 §2: a WebSocket whose handshake failed stayed in the gateway's session set, holding
// its descriptor and counting in portier_push_sessions, until shutdown.
TEST_F(Gateway, Issue10_AFailedHandshakeLeavesNoSessionBehind) {
  for (const char* version : {"12", "13"}) {
    // Version 12 is refused by the WebSocket handshake (426); so is a request without a key.
    std::string req =
        "GET /v1/stream HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\n"
        "Upgrade: websocket\r\nSec-WebSocket-Version: " +
        std::string(version) + "\r\n" +
        (std::string(version) == "12" ? "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n" : "") +
        "\r\n";
    bool closed = false;
    auto out = exchange(req, closed, 5s);
    EXPECT_EQ(out.rfind("HTTP/1.1 ", 0), 0u) << out;
    EXPECT_EQ(out.find("101"), std::string::npos) << out;
    EXPECT_TRUE(closed) << "the server kept the connection of a failed handshake open";
  }
  EXPECT_TRUE(eventually([&] { return metric(c(), "portier_push_sessions") == 0; }))
      << c().get("/metrics").raw;
  // The gateway still serves.
  RawWs ws(server_.port());
  ws.send_json(hello(maria_token_));
  EXPECT_EQ(ws.read_json().at("type"), "ready");
  EXPECT_TRUE(eventually([&] { return metric(c(), "portier_push_sessions") == 1; }));
}

// Issue 10 §6: a device id over 100 characters was silently replaced by the session id.
TEST_F(Gateway, Issue10_ADeviceIdOver100CharactersIsRefused) {
  RawWs ws(server_.port());
  auto h = hello(maria_token_);
  h["device"] = json::object{{"id", std::string(101, 'd')}, {"kind", "app"}};
  ws.send_json(h);
  EXPECT_EQ(code(ws.read_json()), "bad_message");
  h["device"] = json::object{{"id", 7}, {"kind", "app"}};
  ws.send_json(h);
  EXPECT_EQ(code(ws.read_json()), "bad_message");
  // Nothing was registered; a good hello on the same session then goes through.
  h["device"] = json::object{{"id", std::string(100, 'd')}, {"kind", "app"}};
  ws.send_json(h);
  EXPECT_EQ(ws.read_json().at("type"), "ready");
  auto devices = c().get("/v1/devices", owner_);
  ASSERT_EQ(devices.status, 200) << devices.raw;
  ASSERT_EQ(devices.obj().at("items").as_array().size(), 1u) << devices.raw;
  EXPECT_EQ(devices.obj().at("items").as_array()[0].at("id"), json::value(std::string(100, 'd')));
}

// Issue 10 §6: one token could hold any number of sessions (3,000 were seen). Past the cap the
// oldest is closed with 4008, after an error saying why.
TEST_F(Gateway, Issue10_SessionsPerTokenAreCappedOldestFirst) {
  server_.stop();
  server_.start({"--ws-max-sessions-per-token", "3"});
  maria_token_ = server_.login("maria@one.test", "password-maria@one.test");
  std::vector<std::unique_ptr<RawWs>> s;
  for (int i = 0; i < 4; ++i) {
    s.push_back(std::make_unique<RawWs>(server_.port()));
    s.back()->send_json(hello(maria_token_));
    ASSERT_EQ(s.back()->read_json().at("type"), "ready");
    ASSERT_EQ(s.back()->read_json().at("type"), "snapshot");
  }
  auto err = s[0]->read_json();
  EXPECT_EQ(code(err), "too_many_sessions") << err;
  EXPECT_EQ(s[0]->read_until_close(), 4008);
  for (int i = 1; i < 4; ++i) {
    s[i]->send_json({{"type", "ping"}});
    EXPECT_EQ(s[i]->read_json().at("type"), "pong") << i;
  }
  EXPECT_EQ(metric(c(), "portier_push_sessions_evicted_total"), 1);
  // Another token of the same person has a cap of its own.
  auto other = server_.login("maria@one.test", "password-maria@one.test");
  RawWs o(server_.port());
  o.send_json(hello(other));
  EXPECT_EQ(o.read_json().at("type"), "ready");
  s[1]->send_json({{"type", "ping"}});
  EXPECT_EQ(s[1]->read_json().at("type"), "pong");
}

class UnitGateway : public Gateway {
 protected:
  void SetUp() override {
    Gateway::SetUp();
    server_.stop();
    server_.start({"--open-timeout-ms", "20000"});
    std::tie(site_, door_) = site_with_door();
    unit_ = create("units", {{"name", "Front unit"}, {"door_ids", json::array{door_}}});
    create("grants", {{"user_id", maria_}, {"door_id", door_}});
    auto cred = c().post("/v1/units/" + unit_ + "/credentials", json::object{}, owner_);
    ASSERT_EQ(cred.status, 201) << cred.raw;
    unit_token_ = cred.obj().at("token").as_string();
  }
  // A raw unit session past its hello and snapshot.
  std::unique_ptr<RawWs> unit_session() {
    auto ws = std::make_unique<RawWs>(server_.port());
    ws->send_json(hello(unit_token_));
    EXPECT_EQ(ws->read_json().at("type"), "ready");
    return ws;
  }
  // The next message of a type (others skipped), or null.
  static json::value next(RawWs& ws, const std::string& type) {
    for (;;) {
      auto m = ws.read_json();
      if (m.is_null() || m.at("type") == json::value(type)) return m;
    }
  }
  std::string site_, door_, unit_, unit_token_;
};

// Issue 10 §6: errors about a unit's event carry the event's id, as protocol.md says, so the
// unit knows which event to drop.
TEST_F(UnitGateway, Issue10_EventErrorsCarryTheEventsId) {
  auto unit = unit_session();
  json::object ev{{"type", "event"},
                  {"id", "evt_1"},
                  {"event", "door_exploded"},
                  {"door", door_},
                  {"at", "2026-11-27T10:00:00Z"}};
  unit->send_json(ev);
  auto e = next(*unit, "error");
  EXPECT_EQ(code(e), "bad_event") << e;
  EXPECT_EQ(e.at("id"), "evt_1") << e;
  ev["event"] = "door_forced";
  ev["at"] = "yesterday";
  unit->send_json(ev);
  e = next(*unit, "error");
  EXPECT_EQ(code(e), "bad_message") << e;
  EXPECT_EQ(e.at("id"), "evt_1") << e;
  ev["at"] = "2026-11-27T10:00:00Z";
  ev["door"] = 42;
  unit->send_json(ev);
  e = next(*unit, "error");
  EXPECT_EQ(code(e), "bad_message") << e;
  EXPECT_EQ(e.at("id"), "evt_1") << e;
}

// Issue 10 §6: a unit that dropped with a command in flight gave the app 504 unit_timeout
// ("did not open and will not") though the door may have pulsed. Now: 502 unit_lost at once.
TEST_F(UnitGateway, Issue10_AUnitLostWithACommandInFlightIsUnitLost) {
  auto unit = unit_session();
  auto started = std::chrono::steady_clock::now();
  auto open = std::async(std::launch::async, [&] {
    return c().post("/v1/doors/" + door_ + "/open", nullptr, maria_token_);
  });
  auto cmd = next(*unit, "command");
  ASSERT_TRUE(cmd.is_object());
  unit.reset();  // the connection drops before any answer
  ASSERT_EQ(open.wait_for(15s), std::future_status::ready) << "the open waited for its timeout";
  auto r = open.get();
  EXPECT_EQ(r.status, 502) << r.raw;
  EXPECT_EQ(r.code(), "unit_lost") << r.raw;
  EXPECT_LT(std::chrono::steady_clock::now() - started, 15s);
  auto audit = c().get("/v1/audit?limit=10&kind=door.open", owner_);
  ASSERT_EQ(audit.status, 200);
  EXPECT_EQ(audit.obj().at("items").as_array()[0].at("after").at("result"), "unit_lost")
      << audit.raw;
}

}  // namespace
}  // namespace portier::testing
