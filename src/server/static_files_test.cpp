#include "server/static_files.hpp"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

namespace portier {
namespace {

namespace fs = std::filesystem;

class StaticFilesTest : public ::testing::Test {
 protected:
  void SetUp() override {
    root_ = fs::temp_directory_path() /
            ("portier-static-" + std::to_string(::getpid()) + "-" +
             ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::create_directories(root_ / "assets");
    fs::create_directories(root_ / "app");
    write("index.html", "console");
    write("app/index.html", "app");
    write("assets/console-abc.js", "js");
    write("assets/console-abc.js.gz", "gzipped");
    write("app/sw.js", "worker");
    write("secret.txt", "s");
  }
  void TearDown() override { fs::remove_all(root_); }
  void write(const std::string& rel, const std::string& text) {
    std::ofstream(root_ / rel) << text;
  }
  Response get(const std::string& target, const std::string& accept = "") {
    Request r;
    r.method = "GET";
    r.target = target;
    r.accept_encoding = accept;
    return StaticFiles(root_.string()).serve(r);
  }
  static std::string header(const Response& r, const std::string& name) {
    for (const auto& [k, v] : r.headers)
      if (k == name) return v;
    return "";
  }
  fs::path root_;
};

TEST_F(StaticFilesTest, PagesAreNeverCachedAndCarryTheSecurityHeaders) {
  auto r = get("/");
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.body, "console");
  EXPECT_EQ(r.content_type, "text/html; charset=utf-8");
  EXPECT_EQ(header(r, "Cache-Control"), "no-cache");
  EXPECT_EQ(header(r, "Content-Security-Policy"), kContentSecurityPolicy);
  EXPECT_EQ(header(r, "X-Content-Type-Options"), "nosniff");
  EXPECT_EQ(header(r, "Referrer-Policy"), "no-referrer");
  EXPECT_EQ(get("/app/").body, "app");
}

TEST_F(StaticFilesTest, HashedAssetsAreCachedForAYearAndSentGzippedWhenAccepted) {
  auto r = get("/assets/console-abc.js?v=1");
  EXPECT_EQ(r.body, "js");
  EXPECT_EQ(r.content_type, "text/javascript; charset=utf-8");
  EXPECT_EQ(header(r, "Cache-Control"), "public, max-age=31536000, immutable");
  auto gz = get("/assets/console-abc.js", "br, gzip");
  EXPECT_EQ(gz.body, "gzipped");
  EXPECT_EQ(header(gz, "Content-Encoding"), "gzip");
  EXPECT_EQ(header(get("/app/sw.js"), "Cache-Control"), "no-cache");
}

TEST_F(StaticFilesTest, PageRoutesFallBackToTheirPageAndMissingFilesAre404) {
  EXPECT_EQ(get("/users").body, "console");
  EXPECT_EQ(get("/app/settings").body, "app");
  EXPECT_EQ(get("/assets/gone-123.js").status, 404);
  EXPECT_EQ(get("/app").status, 308);
}

TEST_F(StaticFilesTest, NothingOutsideTheRootNorHiddenFiles) {
  for (const char* t : {"/../secret.txt", "/assets/../../etc/passwd", "/%2e%2e/etc/passwd",
                        "/assets/%2e%2e%2f%2e%2e%2fetc%2fpasswd", "/.git/config", "/%00", "/%zz",
                        "/assets\\..\\secret.txt"})
    EXPECT_EQ(get(t).status, 404) << t;
}

TEST_F(StaticFilesTest, OnlyGet) {
  Request r;
  r.method = "POST";
  r.target = "/";
  EXPECT_EQ(StaticFiles(root_.string()).serve(r).status, 405);
}

TEST_F(StaticFilesTest, WithoutBuiltFilesItSaysSo) {
  Request r;
  r.method = "GET";
  r.target = "/";
  StaticFiles none((root_ / "missing").string());
  EXPECT_FALSE(none.built());
  auto res = none.serve(r);
  EXPECT_EQ(res.status, 503);
  EXPECT_NE(res.body.find("--web-root"), std::string::npos);
}

TEST_F(StaticFilesTest, TheApiIsNotStatic) {
  EXPECT_FALSE(StaticFiles::handles("/v1/sites"));
  EXPECT_FALSE(StaticFiles::handles("/v1"));
  EXPECT_FALSE(StaticFiles::handles("/healthz"));
  EXPECT_FALSE(StaticFiles::handles("/metrics?x"));
  EXPECT_TRUE(StaticFiles::handles("/v1sites"));
  EXPECT_TRUE(StaticFiles::handles("/"));
  EXPECT_TRUE(StaticFiles::handles("/app/"));
}

}  // namespace
}  // namespace portier
