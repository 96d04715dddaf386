// HTTPS and WSS with a CA and certificate the test makes itself: the SDK and the CLI
// verify the server, and refuse one they cannot verify.
#include <gtest/gtest.h>

#include <fstream>

#include "client/feed_client.hpp"
#include "support/process.hpp"
#include "support/server.hpp"

namespace portier::testing {
namespace {

using namespace std::chrono_literals;

class Tls : public ::testing::Test {
 protected:
  void SetUp() override {
    auto openssl = [&](std::vector<std::string> args) {
      args.insert(args.begin(), "/usr/bin/openssl");
      auto [rc, out] = run(args);
      ASSERT_EQ(rc, 0) << out;
    };
    std::string d = dir_.path();
    {
      std::ofstream ext(d + "/ext.cnf");
      ext << "subjectAltName=IP:127.0.0.1,DNS:localhost\n";
    }
    openssl({"req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
             "-keyout", d + "/ca.key", "-out", d + "/ca.pem", "-days", "2", "-subj",
             "/CN=portier test CA"});
    openssl({"req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
             "-keyout", d + "/server.key", "-out", d + "/server.csr", "-subj", "/CN=127.0.0.1"});
    openssl({"x509", "-req", "-in", d + "/server.csr", "-CA", d + "/ca.pem", "-CAkey",
             d + "/ca.key", "-CAcreateserial", "-out", d + "/server.pem", "-days", "2", "-extfile",
             d + "/ext.cnf"});
    ASSERT_EQ(server_.init("One", "owner@one.test", "owner-password-1"), 0);
    ASSERT_NO_FATAL_FAILURE(
        server_.start({"--tls-cert", d + "/server.pem", "--tls-key", d + "/server.key"}));
    url_ = "https://127.0.0.1:" + std::to_string(server_.port());
  }
  std::pair<int, std::string> portier(std::vector<std::string> args, const std::string& in = "") {
    args.insert(args.begin(), {PORTIER_BIN, "--config", dir_.path() + "/cli"});
    return run(args, in);
  }

  TempDir dir_;
  Server server_;
  std::string url_;
};

TEST_F(Tls, TheCliAndTheSdkVerifyTheServer) {
  std::string ca = dir_.path() + "/ca.pem";
  // Without the CA, the server's certificate is not trusted.
  auto [rc, out] =
      portier({"login", "--server", url_, "--email", "owner@one.test", "--password-stdin"},
              "owner-password-1\n");
  EXPECT_EQ(rc, 3) << out;
  std::tie(rc, out) = portier(
      {"login", "--server", url_, "--ca", ca, "--email", "owner@one.test", "--password-stdin"},
      "owner-password-1\n");
  ASSERT_EQ(rc, 0) << out;
  std::tie(rc, out) = portier({"sites", "create", "name=HQ", "timezone=UTC"});
  ASSERT_EQ(rc, 0) << out;
  std::string site(boost::json::parse(out).at("id").as_string());
  std::ifstream f(dir_.path() + "/cli/credentials.json");
  std::string token(boost::json::parse(std::string(std::istreambuf_iterator<char>(f), {}))
                        .at("token")
                        .as_string());

  client::ClientOptions o;
  o.url = "wss://127.0.0.1:" + std::to_string(server_.port());
  o.token = token;
  o.ca_file = ca;
  o.feeds = {"site/" + site};
  client::FeedClient wss(o);
  wss.start();
  ASSERT_TRUE(wss.wait_for(
      [&](const client::FeedClient& c) { return c.replica("site/" + site).seq >= 0; }, 10s));
  std::tie(rc, out) = portier({"sites", "update", site, "name=Headquarters"});
  ASSERT_EQ(rc, 0) << out;
  EXPECT_TRUE(wss.wait_for(
      [&](const client::FeedClient& c) {
        auto r = c.replica("site/" + site).records;
        return r.count("site:" + site) && r.at("site:" + site).at("name") == "Headquarters";
      },
      10s));

  o.ca_file = "";  // the system's CAs do not know our test CA
  client::FeedClient untrusting(o);
  untrusting.start();
  ASSERT_TRUE(untrusting.wait_for(
      [](const client::FeedClient& c) { return !c.stopped_reason().empty(); }, 10s));
  EXPECT_EQ(untrusting.stopped_reason().rfind("tls:", 0), 0u) << untrusting.stopped_reason();
  EXPECT_EQ(untrusting.connections(), 0);
}

// The real deployment: a door unit enrolled and connected over HTTPS/WSS, verifying the server.
TEST_F(Tls, AUnitEnrollsAndOpensItsDoorOverTls) {
  std::string ca = dir_.path() + "/ca.pem";
  auto cli = [&](std::vector<std::string> args) {
    auto [rc, out] = portier(std::move(args));
    EXPECT_EQ(rc, 0) << out;
    return rc == 0 ? boost::json::parse(out) : boost::json::value();
  };
  auto [rc, out] = portier(
      {"login", "--server", url_, "--ca", ca, "--email", "owner@one.test", "--password-stdin"},
      "owner-password-1\n");
  ASSERT_EQ(rc, 0) << out;
  std::string me(cli({"me"}).at("user").at("id").as_string());
  std::string site(cli({"sites", "create", "name=HQ", "timezone=UTC"}).at("id").as_string());
  std::string door(cli({"doors", "create", "site_id=" + site, "name=Front"}).at("id").as_string());
  std::string unit(
      cli({"units", "create", "name=U", "door_ids:=[\"" + door + "\"]"}).at("id").as_string());
  cli({"grants", "create", "user_id=" + me, "door_id=" + door});
  std::string code(cli({"unit-enrollment", unit}).at("code").as_string());
  std::string state = dir_.path() + "/unit";
  // Without the CA the unit refuses the server; with it, it enrolls.
  EXPECT_EQ(
      run({PORTIER_UNIT_BIN, "enroll", "--server", url_, "--code", code, "--state", state}).first,
      1);
  std::tie(rc, out) = run(
      {PORTIER_UNIT_BIN, "enroll", "--server", url_, "--code", code, "--state", state, "--ca", ca});
  ASSERT_EQ(rc, 0) << out;
  Process agent({PORTIER_UNIT_BIN, "run", "--state", state});
  ASSERT_TRUE(agent.wait_for_line("connected to " + url_, 10s));
  std::tie(rc, out) = portier({"open", door});
  EXPECT_EQ(rc, 0) << out;
  EXPECT_EQ(read_lines(state + "/sim/relay.log").size(), 1u);
}

// Issue 10: TLS 1.2 offers forward-secret AEAD suites only (TLS 1.3 has nothing else).
TEST_F(Tls, Issue10_Tls12OffersOnlyEcdheAeadSuites) {
  auto handshake = [](unsigned short port, const std::string& version, const std::string& cipher) {
    std::vector<std::string> args = {"/usr/bin/openssl", "s_client", "-connect",
                                     "127.0.0.1:" + std::to_string(port), version};
    if (!cipher.empty()) args.insert(args.end(), {"-cipher", cipher});
    return run(args, "", 20s).first;
  };
  // The fixture's certificate is ECDSA.
  EXPECT_EQ(handshake(server_.port(), "-tls1_2", "ECDHE-ECDSA-AES128-GCM-SHA256"), 0);
  EXPECT_EQ(handshake(server_.port(), "-tls1_2", "ECDHE-ECDSA-CHACHA20-POLY1305"), 0);
  EXPECT_EQ(handshake(server_.port(), "-tls1_3", ""), 0);
  EXPECT_NE(handshake(server_.port(), "-tls1_2", "ECDHE-ECDSA-AES128-SHA256"), 0);  // CBC
  EXPECT_NE(handshake(server_.port(), "-tls1_2", "ECDHE-ECDSA-AES256-SHA"), 0);
  // An RSA certificate: no RSA key exchange (no forward secrecy), no CBC.
  std::string d = dir_.path();
  auto [rc, out] =
      run({"/usr/bin/openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout",
           d + "/rsa.key", "-out", d + "/rsa.pem", "-days", "2", "-subj", "/CN=127.0.0.1"});
  ASSERT_EQ(rc, 0) << out;
  Server rsa;
  ASSERT_EQ(rsa.init("One", "owner@one.test", "owner-password-1"), 0);
  ASSERT_NO_FATAL_FAILURE(rsa.start({"--tls-cert", d + "/rsa.pem", "--tls-key", d + "/rsa.key"}));
  EXPECT_EQ(handshake(rsa.port(), "-tls1_2", "ECDHE-RSA-AES256-GCM-SHA384"), 0);
  EXPECT_NE(handshake(rsa.port(), "-tls1_2", "AES128-GCM-SHA256"), 0);
  EXPECT_NE(handshake(rsa.port(), "-tls1_2", "AES256-SHA256"), 0);
  EXPECT_NE(handshake(rsa.port(), "-tls1_2", "DHE-RSA-AES128-GCM-SHA256"), 0);
  EXPECT_NE(handshake(rsa.port(), "-tls1_2", "ECDHE-RSA-AES128-SHA"), 0);
}

}  // namespace
}  // namespace portier::testing
