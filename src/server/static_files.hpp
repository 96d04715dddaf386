#pragma once
// The web console (/) and the user app (/app/): built files served from a directory with
// their content types, caching (hashed /assets/ for a year, everything else revalidated),
// pre-compressed .gz copies, the single-page-app fallback, and security headers (a strict
// Content-Security-Policy with no inline script, nosniff, no referrer, no framing). Without
// built files it answers a page saying so. Transport-free, like the API.

#include <string>
#include <string_view>

#include "server/http/http.hpp"

namespace portier {

class StaticFiles {
 public:
  // `root` holds index.html, app/index.html and assets/ (web/'s build). It may be missing.
  explicit StaticFiles(std::string root);

  // Whether a request target is for the web pages rather than the API (/v1, /healthz, /metrics).
  static bool handles(std::string_view target);
  // Answers a GET for a file, a page route (fallback to the page's index.html) or a 404.
  Response serve(const Request& req) const;
  // Whether the root holds a built console.
  bool built() const { return built_; }
  const std::string& root() const { return root_; }

 private:
  std::string root_;
  bool built_ = false;
};

// The Content-Security-Policy of every web page response.
extern const char* const kContentSecurityPolicy;

}  // namespace portier
