// The `portier` CLI against a real portierd: login, admin verbs, exit codes, and watch.
#include <signal.h>
#include <sys/stat.h>

#include <set>
#include <sstream>

#include "fixture.hpp"
#include "support/ws.hpp"

namespace portier::testing {
namespace {

using namespace std::chrono_literals;

class Cli : public ApiTest {
 protected:
  void SetUp() override {
    ApiTest::SetUp();
    config_ = cfg_dir_.path() + "/portier";
    auto [rc, out] = portier({"login", "--server", url(), "--email", kOwner, "--password-stdin"},
                             std::string(kPassword) + "\n");
    ASSERT_EQ(rc, 0) << out;
  }
  std::string url() const { return "http://127.0.0.1:" + std::to_string(server_.port()); }
  std::vector<std::string> argv(std::vector<std::string> args) const {
    args.insert(args.begin(), {PORTIER_BIN, "--config", config_});
    return args;
  }
  std::pair<int, std::string> portier(std::vector<std::string> args, const std::string& in = "") {
    return run(argv(std::move(args)), in);
  }

  TempDir cfg_dir_;
  std::string config_;
};

TEST_F(Cli, LoginSavesATokenOnlyTheUserCanRead) {
  struct stat st {};
  ASSERT_EQ(::stat((config_ + "/credentials.json").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  auto [rc, out] = portier({"me"});
  EXPECT_EQ(rc, 0);
  EXPECT_NE(out.find(kOwner), std::string::npos);
}

TEST_F(Cli, AdminVerbsAndExitCodes) {
  auto [rc, out] = portier({"sites", "create", "name=HQ", "timezone=Europe/Madrid"});
  ASSERT_EQ(rc, 0) << out;
  auto site = json::parse(out).at("id").as_string();
  std::tie(rc, out) = portier({"doors", "create", "site_id=" + std::string(site), "name=Gate",
                               "kind=gate", "pulse_ms:=2500"});
  ASSERT_EQ(rc, 0) << out;
  EXPECT_EQ(json::parse(out).at("pulse_ms"), json::value(2500));
  std::tie(rc, out) = portier({"sites", "list"});
  EXPECT_EQ(rc, 0);
  EXPECT_NE(out.find("Europe/Madrid"), std::string::npos);
  // Errors: the API's code, and an exit code by class.
  EXPECT_EQ(portier({"sites", "create", "name=X", "timezone=Mars/Base"}).first, 8);
  EXPECT_EQ(portier({"sites", "get", "site_nope"}).first, 6);
  EXPECT_EQ(portier({"sites", "delete", std::string(site)}).first, 7);  // it has a door
  EXPECT_EQ(portier({"sites", "create", "name"}).first, 2);
  EXPECT_EQ(portier({"logout"}).first, 0);
  EXPECT_EQ(portier({"sites", "list"}).first, 4);
}

TEST_F(Cli, OpenReportsTheServersAnswerAsAnExitCode) {
  auto [site, door] = site_with_door();
  // No grant: 403 → 5. A grant but no unit on the door: 409 → 7.
  EXPECT_EQ(portier({"open", door}).first, 5);
  std::string me(c().get("/v1/me", owner_).obj().at("user").at("id").as_string());
  create("grants", {{"user_id", me}, {"door_id", door}});
  auto [rc, out] = portier({"open", door});
  EXPECT_EQ(rc, 7) << out;
  EXPECT_EQ(portier({"open", "door_nope"}).first, 6);
  // An enrollment code for a unit, from the CLI.
  auto unit = create("units", {{"name", "U"}, {"door_ids", json::array{door}}});
  std::tie(rc, out) = portier({"unit-enrollment", unit});
  ASSERT_EQ(rc, 0) << out;
  EXPECT_EQ(json::parse(out).at("code").as_string().size(), 14u);
}

TEST_F(Cli, DevicesArePagedLikeTheLists) {
  // Three consoles of the owner's, each connected once under its own device id.
  for (int i = 0; i < 3; ++i) {
    RawWs ws(server_.port());
    ws.send_json({{"type", "hello"},
                  {"token", owner_},
                  {"device", {{"id", "cli-dev-" + std::to_string(i)}, {"kind", "console"}}}});
    json::value m;
    do m = ws.read_json();
    while (m.is_object() && m.at("type") != "ready");
    ASSERT_TRUE(m.is_object()) << "no ready for device " << i;
  }
  auto lines = [](const std::string& out) {
    std::vector<std::string> ids;
    std::istringstream in(out);
    for (std::string line; std::getline(in, line);)
      ids.emplace_back(json::parse(line).at("id").as_string());
    return ids;
  };
  auto [rc, out] = portier({"devices", "--limit", "2"});
  ASSERT_EQ(rc, 0) << out;
  auto first = lines(out);
  ASSERT_EQ(first.size(), 2u) << out;
  // The rest, from the cursor the API gives after those two.
  auto page = c().get("/v1/devices?limit=2", owner_).obj();
  std::string cursor(page.at("next_cursor").as_string());
  std::tie(rc, out) = portier({"devices", "--cursor", cursor});
  ASSERT_EQ(rc, 0) << out;
  auto rest = lines(out);
  ASSERT_EQ(rest.size(), 1u) << out;
  std::set<std::string> all(first.begin(), first.end());
  all.insert(rest.begin(), rest.end());
  EXPECT_EQ(all, (std::set<std::string>{"cli-dev-0", "cli-dev-1", "cli-dev-2"}));
  EXPECT_EQ(portier({"devices", "--cursor", "not-a-cursor"}).first, 8);  // 400 invalid_parameter
}

TEST_F(Cli, WatchPrintsEachChangeAndSurvivesARestart) {
  auto [site, door] = site_with_door();
  Process watch(argv({"watch"}));
  ASSERT_TRUE(watch.wait_for_line("snapshot", 10s));
  ASSERT_EQ(c().patch("/v1/doors/" + door, json::object{{"name", "Side door"}}, owner_).status,
            200);
  auto line = watch.wait_for_line("Side door", 10s);
  ASSERT_TRUE(line);
  EXPECT_NE(line->find("put door " + door), std::string::npos) << *line;
  EXPECT_EQ(server_.stop(), 0);
  server_.restart();
  ASSERT_EQ(c().patch("/v1/doors/" + door, json::object{{"name", "Back door"}}, owner_).status,
            200);
  EXPECT_TRUE(watch.wait_for_line("Back door", 20s));
  watch.signal(SIGINT);
  EXPECT_EQ(watch.wait(10s), 0);
}

}  // namespace
}  // namespace portier::testing
