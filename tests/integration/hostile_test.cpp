// Regression tests for what hostile testing found (issue 10, section 6): file descriptors run
// out, request smuggling, the login limit under concurrency, the authentication audit trail,
// admins scoped to sites reaching other sites through members, and the smaller findings.
#include <poll.h>
#include <sqlite3.h>
#include <sys/socket.h>

#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/write.hpp>
#include <filesystem>
#include <fstream>
#include <future>
#include <thread>

#include "fixture.hpp"

namespace portier::testing {
namespace {

namespace net = boost::asio;
using tcp = net::ip::tcp;
using namespace std::chrono_literals;

// A TCP connection to the server from a chosen loopback source address (all of 127/8 is
// loopback on Linux), with reads that have deadlines.
class Conn {
 public:
  Conn(unsigned short port, const std::string& from = "127.0.0.1") : sock_(ioc_) {
    sock_.open(tcp::v4());
    sock_.bind({net::ip::make_address(from), 0});
    sock_.connect({net::ip::make_address("127.0.0.1"), port});
  }
  void send(const std::string& bytes) { net::write(sock_, net::buffer(bytes)); }
  // Everything the server sends until it closes the connection or, while it sends nothing,
  // the deadline passes.
  std::string read_until_close(std::chrono::milliseconds timeout) {
    std::string out;
    auto deadline = std::chrono::steady_clock::now() + timeout;
    for (;;) {
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
          deadline - std::chrono::steady_clock::now());
      pollfd p{sock_.native_handle(), POLLIN, 0};
      if (::poll(&p, 1, static_cast<int>(std::max<std::int64_t>(0, left.count()))) <= 0) return out;
      char buf[4096];
      auto n = ::recv(sock_.native_handle(), buf, sizeof buf, 0);
      if (n <= 0) {
        closed_ = true;
        return out;
      }
      out.append(buf, static_cast<std::size_t>(n));
    }
  }
  // Whether the server closed the connection (seen by read_until_close).
  bool closed() const { return closed_; }

 private:
  net::io_context ioc_;
  tcp::socket sock_;
  bool closed_ = false;
};

// One HTTP/1.1 request on a fresh connection, answered within `timeout` or "" (no hang).
std::string raw_exchange(unsigned short port, const std::string& request,
                         std::chrono::milliseconds timeout = 10s) {
  Conn c(port);
  c.send(request);
  return c.read_until_close(timeout);
}

constexpr const char* kHealthz = "GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";

int count_of(const std::string& haystack, const std::string& needle) {
  int n = 0;
  for (auto i = haystack.find(needle); i != std::string::npos; i = haystack.find(needle, i + 1))
    ++n;
  return n;
}

// The value of a metric line that starts with `prefix` in a /metrics text, or -1.
double metric(const std::string& text, const std::string& prefix) {
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);)
    if (line.rfind(prefix + " ", 0) == 0) return std::stod(line.substr(prefix.size() + 1));
  return -1;
}

std::size_t file_size(const std::string& path) {
  std::error_code ec;
  auto n = std::filesystem::file_size(path, ec);
  return ec ? 0 : static_cast<std::size_t>(n);
}

// --- Out of file descriptors -------------------------------------------------------------

class FdLimits : public ::testing::Test {
 protected:
  void start(unsigned long soft, unsigned long hard, const std::vector<std::string>& flags) {
    ASSERT_EQ(server_.init("One", "owner@one.test", "owner-password-1"), 0);
    log_ = server_.data_dir() + "/stderr.log";
    server_.set_child_options(ChildOptions{.fd_soft = soft, .fd_hard = hard, .stderr_path = log_});
    ASSERT_NO_FATAL_FAILURE(server_.start(flags));
  }
  // Opens n idle connections from 127.0.0.2 (they send nothing).
  void flood(int n) {
    for (int i = 0; i < n; ++i)
      idle_.push_back(std::make_unique<Conn>(server_.port(), "127.0.0.2"));
  }
  // CPU the server burns and bytes it logs over `window` while the flood holds.
  std::pair<std::chrono::milliseconds, std::size_t> cost_over(std::chrono::milliseconds window) {
    auto cpu0 = cpu_time(server_.pid());
    auto log0 = file_size(log_);
    std::this_thread::sleep_for(window);  // measuring a rate over a window, not waiting
    return {cpu_time(server_.pid()) - cpu0, file_size(log_) - log0};
  }

  Server server_;
  std::string log_;
  std::vector<std::unique_ptr<Conn>> idle_;
};

TEST_F(FdLimits, Issue10_IdleFloodFromOneAddressIsCappedAndHealthzStillAnswers) {
  ASSERT_NO_FATAL_FAILURE(start(256, 256, {"--max-connections-per-address", "64"}));
  flood(400);
  auto [cpu, logged] = cost_over(2s);
  EXPECT_LT(cpu, 400ms) << "the server spins";
  EXPECT_LT(logged, 8u * 1024) << "the server floods its log";
  auto health = raw_exchange(server_.port(), kHealthz, 5s);
  EXPECT_EQ(health.rfind("HTTP/1.1 200", 0), 0u) << health;
  // Connections past the cap were refused at once, with a reason when HTTP can say it.
  int refused = 0, told = 0;
  for (auto& c : idle_) {
    auto out = c->read_until_close(0ms);
    refused += c->closed() ? 1 : 0;
    told +=
        out.rfind("HTTP/1.1 503", 0) == 0 && out.find("too_many_connections") != std::string::npos;
  }
  EXPECT_EQ(refused, 400 - 64);
  EXPECT_EQ(told, refused);
  auto text = server_.client().get("/metrics").raw;
  EXPECT_GE(metric(text, "portier_http_connections_refused_total{reason=\"per_address\"}"),
            400 - 64)
      << text;
  EXPECT_GE(metric(text, "portier_http_connections"), 64) << text;
}

TEST_F(FdLimits, Issue10_OutOfDescriptorsTheAcceptLoopBacksOff) {
  // Caps above the descriptor limit: accept() itself fails with EMFILE.
  ASSERT_NO_FATAL_FAILURE(
      start(128, 128, {"--max-connections", "100000", "--max-connections-per-address", "100000"}));
  flood(250);
  auto [cpu, logged] = cost_over(2s);
  EXPECT_LT(cpu, 400ms) << "the accept loop spins";
  EXPECT_LT(logged, 2u * 1024) << "more than a line per interval";
  std::string log((std::istreambuf_iterator<char>(*std::make_unique<std::ifstream>(log_))), {});
  EXPECT_NE(log.find("out of file descriptors"), std::string::npos) << log;
  // Once descriptors are free again the server serves.
  idle_.clear();
  auto health = raw_exchange(server_.port(), kHealthz, 10s);
  EXPECT_EQ(health.rfind("HTTP/1.1 200", 0), 0u) << health;
}

TEST_F(FdLimits, Issue10_TheSoftDescriptorLimitIsRaisedToTheHardOneAtStart) {
  ASSERT_NO_FATAL_FAILURE(start(200, 400, {}));
  std::ifstream f("/proc/" + std::to_string(server_.pid()) + "/limits");
  std::string line;
  while (std::getline(f, line) && line.rfind("Max open files", 0) != 0) {
  }
  std::istringstream in(line.substr(std::string("Max open files").size()));
  unsigned long soft = 0, hard = 0;
  in >> soft >> hard;
  EXPECT_EQ(soft, 400u) << line;
  EXPECT_EQ(hard, 400u) << line;
}

// --- Request smuggling -------------------------------------------------------------------

class Smuggling : public ApiTest {
 protected:
  // A POST whose Transfer-Encoding is `te`, carrying a GET /v1/me as its "body".
  std::string smuggle(const std::string& te) {
    std::string inner =
        "GET /v1/me HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " + owner_ + "\r\n\r\n";
    return raw_exchange(server_.port(),
                        "POST /v1/sites HTTP/1.1\r\nHost: x\r\nAuthorization: "
                        "Bearer " +
                            owner_ +
                            "\r\nContent-Type: application/json\r\n"
                            "Transfer-Encoding: " +
                            te + "\r\n\r\n" + inner);
  }
};

TEST_F(Smuggling, Issue10_ATransferEncodingNotEndingInChunkedIs400AndCloses) {
  for (std::string te : {"gzip", "identity", "xchunked", "chunked, gzip", "chunked;x=1, gzip"}) {
    auto out = smuggle(te);
    EXPECT_EQ(out.rfind("HTTP/1.1 400", 0), 0u) << te << ": " << out;
    EXPECT_EQ(count_of(out, "HTTP/1.1 "), 1) << te << ": the body ran as a request: " << out;
    EXPECT_EQ(out.find(R"("user")"), std::string::npos) << te << ": " << out;
    EXPECT_NE(out.find("bad_request"), std::string::npos) << out;
  }
}

TEST_F(Smuggling, Issue10_AnUnknownCodingBeforeChunkedIs501) {
  std::string body = R"({"name":"HQ","timezone":"UTC"})";
  char size[16];
  std::snprintf(size, sizeof size, "%zx", body.size());
  auto out = raw_exchange(server_.port(),
                          "POST /v1/sites HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " + owner_ +
                              "\r\nContent-Type: application/json\r\nTransfer-Encoding: gzip, "
                              "chunked\r\n\r\n" +
                              size + "\r\n" + body + "\r\n0\r\n\r\n");
  EXPECT_EQ(out.rfind("HTTP/1.1 501", 0), 0u) << out;
  EXPECT_NE(out.find("not_implemented"), std::string::npos) << out;
  EXPECT_EQ(server_.client().get("/v1/sites", owner_).obj().at("items").as_array().size(), 0u);
  // Plain chunked still works, and keeps the connection.
  out =
      raw_exchange(server_.port(),
                   "POST /v1/sites HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " + owner_ +
                       "\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n" +
                       size + "\r\n" + body +
                       "\r\n0\r\n\r\nGET /healthz HTTP/1.1\r\nHost: "
                       "x\r\nConnection: close\r\n\r\n");
  EXPECT_EQ(out.rfind("HTTP/1.1 201", 0), 0u) << out;
  EXPECT_EQ(count_of(out, "HTTP/1.1 200"), 1) << out;
}

TEST_F(Smuggling, TheCodingNamedInA501IsEscapedInItsJson) {
  // The refused coding (up to its comma: x") is quoted back in the message: its quote must
  // not end the string, leaving JSON a client cannot read (or members forged into it).
  auto out = raw_exchange(server_.port(),
                          "POST /v1/sites HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                          "Transfer-Encoding: x\",\"code\":\"forged, chunked\r\n\r\n0\r\n\r\n");
  ASSERT_EQ(out.rfind("HTTP/1.1 501", 0), 0u) << out;
  auto body = json::parse(out.substr(out.find("\r\n\r\n") + 4));
  EXPECT_EQ(body.at("error").at("code"), "not_implemented") << out;
  EXPECT_NE(std::string(body.at("error").at("message").as_string()).find("coding x\" is"),
            std::string::npos)
      << out;
}

// --- The login limit under concurrency ----------------------------------------------------

class LoginLimit : public ApiTest {
 protected:
  // Sends the logins all at once; returns how many got each status.
  std::map<int, int> at_once(const std::vector<std::string>& emails) {
    std::promise<void> go;
    auto ready = go.get_future().share();
    std::vector<std::future<int>> replies;
    for (const auto& e : emails)
      replies.push_back(std::async(std::launch::async, [this, e, ready] {
        ready.wait();
        return c()
            .post("/v1/auth/login", json::object{{"email", e}, {"password", "wrong-guess"}})
            .status;
      }));
    go.set_value();
    std::map<int, int> by_status;
    for (auto& r : replies) ++by_status[r.get()];
    return by_status;
  }
};

TEST_F(LoginLimit, Issue10_ConcurrentGuessesOnOneAccountCheckExactlyTheLimit) {
  auto by_status = at_once(std::vector<std::string>(12, kOwner));
  EXPECT_EQ(by_status[401], 5);
  EXPECT_EQ(by_status[429], 7);
}

TEST_F(LoginLimit, Issue10_ConcurrentGuessesFromOneAddressCheckExactlyTheLimit) {
  std::vector<std::string> emails;
  for (int i = 0; i < 30; ++i) emails.push_back("guess" + std::to_string(i) + "@one.test");
  auto by_status = at_once(emails);
  EXPECT_EQ(by_status[401], 20);
  EXPECT_EQ(by_status[429], 10);
}

// --- The authentication audit trail -------------------------------------------------------

class AuthAudit : public ApiTest {
 protected:
  json::array entries(const std::string& kind) {
    auto r = c().get("/v1/audit?limit=500&kind=" + kind, owner_);
    EXPECT_EQ(r.status, 200) << r.raw;
    return r.obj().at("items").as_array();
  }
  // (action, after) of the entries that belong to no organization, oldest first.
  std::vector<std::pair<std::string, json::value>> serverwide() {
    std::vector<std::pair<std::string, json::value>> out;
    sqlite3* db = nullptr;
    EXPECT_EQ(sqlite3_open_v2((server_.data_dir() + "/portier.db").c_str(), &db,
                              SQLITE_OPEN_READONLY, nullptr),
              SQLITE_OK);
    sqlite3_stmt* s = nullptr;
    EXPECT_EQ(
        sqlite3_prepare_v2(db, "SELECT action, after FROM audit WHERE org_id = '' ORDER BY seq", -1,
                           &s, nullptr),
        SQLITE_OK);
    while (sqlite3_step(s) == SQLITE_ROW)
      out.emplace_back(reinterpret_cast<const char*>(sqlite3_column_text(s, 0)),
                       json::parse(reinterpret_cast<const char*>(sqlite3_column_text(s, 1))));
    sqlite3_finalize(s);
    sqlite3_close(db);
    return out;
  }
  Reply login(const std::string& email, const std::string& password) {
    return c().post("/v1/auth/login", json::object{{"email", email}, {"password", password}});
  }
};

TEST_F(AuthAudit, Issue10_LoginsLogoutsAndLockoutsAreAuditedWithoutSecrets) {
  auto [maria, token] = person("maria@one.test");
  ASSERT_EQ(c().request("POST", "/v1/auth/logout", nullptr, token).status, 204);
  for (int i = 0; i < 7; ++i) login("Maria@one.test", "guess-number-" + std::to_string(i));
  auto all = entries("auth");
  auto raw = json::serialize(all);
  EXPECT_EQ(raw.find("password-maria"), std::string::npos) << "a password in the log";
  EXPECT_EQ(raw.find("guess-number"), std::string::npos) << "a guess in the log";
  EXPECT_EQ(raw.find(token), std::string::npos) << "a token in the log";
  std::map<std::string, int> actions;
  for (const auto& e : all) {
    ++actions[std::string(e.at("action").as_string())];
    if (e.at("action") == "auth.login_failed") {
      EXPECT_EQ(e.at("entity_id"), json::value(maria)) << e;
      EXPECT_EQ(e.at("after").at("email"), "Maria@one.test") << e;
      EXPECT_EQ(e.at("after").at("reason"), "wrong_password") << e;
      EXPECT_EQ(e.at("after").at("address"), "127.0.0.1") << e;
    }
    if (e.at("action") == "auth.logout") {
      EXPECT_EQ(e.at("actor_id"), json::value(maria)) << e;
    }
  }
  EXPECT_EQ(actions["auth.login"], 2);  // the owner (fixture) and maria
  EXPECT_EQ(actions["auth.logout"], 1);
  EXPECT_EQ(actions["auth.login_failed"], 5);  // the other two were refused before checking
  EXPECT_EQ(actions["auth.locked_out"], 1);
}

TEST_F(AuthAudit, Issue10_UnknownEmailsAndBadEnrollmentCodesAreKeptServerWide) {
  std::string long_email = "intruder" + std::string(300, 'x') + "@evil.test";
  login("nobody@one.test", "some-guess");
  login(long_email.substr(0, 254), "some-guess");
  auto bad = c().post("/v1/enroll", json::object{{"code", "AAAA-BBBB-CCCC"}});
  EXPECT_EQ(bad.code(), "code_invalid");
  auto rows = serverwide();
  ASSERT_EQ(rows.size(), 3u);
  EXPECT_EQ(rows[0].first, "auth.login_failed");
  EXPECT_EQ(rows[0].second.at("email"), "nobody@one.test");
  EXPECT_EQ(rows[0].second.at("reason"), "unknown_email");
  EXPECT_LE(rows[1].second.at("email").as_string().size(), 100u);
  EXPECT_EQ(std::string(rows[1].second.at("email").as_string()).substr(0, 8), "intruder");
  EXPECT_EQ(rows[2].first, "unit.enroll_failed");
  EXPECT_EQ(rows[2].second.at("reason"), "code_invalid");
  EXPECT_EQ(json::serialize(rows[2].second).find("AAAA"), std::string::npos) << "the code leaked";
  // None of this is shown to an organization.
  EXPECT_EQ(json::serialize(entries("auth")).find("nobody@"), std::string::npos);
}

// --- Admins scoped to sites and members --------------------------------------------------

class ScopedAdmin : public ApiTest {
 protected:
  void SetUp() override {
    ApiTest::SetUp();
    std::tie(a_site_, a_door_) = site_with_door("A");
    std::tie(b_site_, b_door_) = site_with_door("B");
    std::tie(sam_, sam_token_) =
        person("sam@one.test", "admin", {{"site_ids", json::array{a_site_}}});
  }
  std::string a_site_, a_door_, b_site_, b_door_, sam_, sam_token_;
};

TEST_F(ScopedAdmin, Issue10_CannotTakeOverAMemberOfAnotherSite) {
  auto [bea, bea_token] = person("bea@one.test");
  auto grant = create("grants", {{"user_id", bea}, {"door_id", b_door_}});
  auto reset =
      c().patch("/v1/users/" + bea, json::object{{"password", "taken-over-now"}}, sam_token_);
  EXPECT_EQ(reset.status, 403) << reset.raw;
  EXPECT_EQ(reset.code(), "forbidden");
  EXPECT_EQ(c().post("/v1/auth/login",
                     json::object{{"email", "bea@one.test"}, {"password", "taken-over-now"}})
                .status,
            401);
  EXPECT_EQ(c().patch("/v1/users/" + bea, json::object{{"name", "B"}}, sam_token_).status, 403);
  EXPECT_EQ(c().patch("/v1/users/" + bea, json::object{{"disabled", true}}, sam_token_).status,
            403);
  EXPECT_EQ(c().del("/v1/users/" + bea, sam_token_).status, 403);
  EXPECT_EQ(c().get("/v1/grants/" + grant, owner_).status, 200) << "her site-B grant is gone";
  EXPECT_EQ(c().get("/v1/me", bea_token).status, 200);
}

TEST_F(ScopedAdmin, Issue10_ManagesMembersWhoseGrantsAreAllOnHerSites) {
  auto [ana, ana_token] = person("ana@one.test");
  create("grants", {{"user_id", ana}, {"door_id", a_door_}});
  create("grants", {{"user_id", ana}, {"site_id", a_site_}});
  EXPECT_EQ(c().patch("/v1/users/" + ana, json::object{{"name", "Ana A."}}, sam_token_).status,
            200);
  // Never another user's password, though.
  EXPECT_EQ(
      c().patch("/v1/users/" + ana, json::object{{"password", "set-by-sam-1"}}, sam_token_).status,
      403);
  // A member with one grant elsewhere is out of reach.
  create("grants", {{"user_id", ana}, {"site_id", b_site_}});
  EXPECT_EQ(c().patch("/v1/users/" + ana, json::object{{"name", "Ana"}}, sam_token_).status, 403);
  // A member without grants is hers to change and remove.
  auto [new_one, t] = person("new@one.test");
  EXPECT_EQ(c().patch("/v1/users/" + new_one, json::object{{"name", "N"}}, sam_token_).status, 200);
  EXPECT_EQ(c().del("/v1/users/" + new_one, sam_token_).status, 204);
}

// --- Names, /metrics, query strings, TLS ---------------------------------------------------

class Hostile : public ApiTest {};

TEST_F(Hostile, Issue10_NamesRefuseControlAndBidiOverrideCharacters) {
  auto [site, door] = site_with_door();
  auto before = digest();
  const std::vector<std::string> bad = {std::string("HQ\0x", 4),
                                        "HQ\x01",
                                        "HQ\x7f",
                                        "HQ\xc2\x85",       // U+0085 (C1 next line)
                                        "HQ\xe2\x80\xae",   // U+202E right-to-left override
                                        "HQ\xe2\x81\xa6"};  // U+2066 left-to-right isolate
  for (const auto& name : bad) {
    for (const auto& r :
         {c().post("/v1/sites", json::object{{"name", name}, {"timezone", "UTC"}}, owner_),
          c().patch("/v1/doors/" + door, json::object{{"name", name}}, owner_),
          c().post(
              "/v1/users",
              json::object{{"email", "x@one.test"}, {"name", name}, {"password", "password-1234"}},
              owner_),
          c().post("/v1/users",
                   json::object{{"email", "x" + name + "@one.test"},
                                {"name", "X"},
                                {"password", "password-1234"}},
                   owner_)}) {
      EXPECT_EQ(r.status, 422) << r.raw;
      EXPECT_EQ(r.code(), "invalid_characters") << r.raw;
    }
  }
  EXPECT_EQ(digest(), before);
  // Letters of any script, and the zero-width joiner of emoji, are fine.
  create("sites", {{"name", "Zürich 東京 مكتب 👩‍💻"}, {"timezone", "UTC"}});
}

TEST_F(Hostile, Issue10_MetricsCanRequireAToken) {
  server_.stop();
  server_.start({"--metrics-token", "scrape-secret-1234"});
  auto anon = c().get("/metrics");
  EXPECT_EQ(anon.status, 401);
  EXPECT_EQ(anon.code(), "unauthorized");
  EXPECT_EQ(c().get("/metrics", "wrong-token").status, 401);
  auto ok = c().get("/metrics", "scrape-secret-1234");
  EXPECT_EQ(ok.status, 200);
  EXPECT_NE(ok.raw.find("portier_http_requests_total"), std::string::npos);
  EXPECT_EQ(c().get("/healthz").status, 200);  // liveness stays open
}

TEST_F(Hostile, Issue10_ALiteralPlusInAQueryStringIsAPlus) {
  auto [site, door] = site_with_door();
  auto r = c().get("/v1/access/check?door_id=" + door + "&at=2026-11-27T20:00:00+01:00", owner_);
  ASSERT_EQ(r.status, 200) << r.raw;
  EXPECT_EQ(r.obj().at("at"), "2026-11-27T20:00:00+01:00");
  auto a = c().get("/v1/audit?from=2020-01-01T00:00:00+01:00&to=2100-01-01T00:00:00+01:00", owner_);
  EXPECT_EQ(a.status, 200) << a.raw;
  // %2B still works.
  EXPECT_EQ(c().get("/v1/access/check?door_id=" + door + "&at=2026-11-27T20:00:00%2B01:00", owner_)
                .status,
            200);
}

TEST(UnitAgentFlags, Issue10_BadFlagsExit2AsDocumented) {
  for (std::vector<std::string> args : {std::vector<std::string>{"--bogus"},
                                        {"run"},
                                        {"run", "--state", "/tmp", "--driver", "x"},
                                        {"enroll", "--server", "http://127.0.0.1:1"},
                                        {"show", "--state"}}) {
    args.insert(args.begin(), PORTIER_UNIT_BIN);
    EXPECT_EQ(run(args).first, 2) << args[1];
  }
  EXPECT_EQ(run({PORTIER_UNIT_BIN, "--help"}).first, 0);
  EXPECT_EQ(run({portierd_path(), "serve", "--bogus"}).first, 2);
  EXPECT_EQ(run({portierd_path(), "serve"}).first, 2);  // --data is required
}

}  // namespace
}  // namespace portier::testing
