#include "server/static_files.hpp"

#include <filesystem>
#include <fstream>
#include <optional>
#include <sstream>
#include <vector>

namespace portier {
namespace fs = std::filesystem;

const char* const kContentSecurityPolicy =
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; "
    "connect-src 'self'; font-src 'self'; manifest-src 'self'; worker-src 'self'; "
    "object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

namespace {

std::string_view content_type(std::string_view ext) {
  static const std::pair<std::string_view, std::string_view> types[] = {
      {".html", "text/html; charset=utf-8"},
      {".js", "text/javascript; charset=utf-8"},
      {".mjs", "text/javascript; charset=utf-8"},
      {".css", "text/css; charset=utf-8"},
      {".json", "application/json"},
      {".map", "application/json"},
      {".webmanifest", "application/manifest+json"},
      {".svg", "image/svg+xml"},
      {".png", "image/png"},
      {".ico", "image/x-icon"},
      {".webp", "image/webp"},
      {".woff2", "font/woff2"},
      {".txt", "text/plain; charset=utf-8"},
  };
  for (const auto& [e, t] : types)
    if (e == ext) return t;
  return "application/octet-stream";
}

void security_headers(Response& r) {
  r.headers.emplace_back("Content-Security-Policy", kContentSecurityPolicy);
  r.headers.emplace_back("X-Content-Type-Options", "nosniff");
  r.headers.emplace_back("Referrer-Policy", "no-referrer");
  r.headers.emplace_back("X-Frame-Options", "DENY");
  r.headers.emplace_back("Cross-Origin-Opener-Policy", "same-origin");
}

Response page(int status, std::string body) {
  Response r;
  r.status = status;
  r.content_type = "text/html; charset=utf-8";
  r.body = std::move(body);
  r.headers.emplace_back("Cache-Control", "no-cache");
  security_headers(r);
  return r;
}

Response not_found() {
  return page(
      404,
      "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>Not "
      "found</title></head><body><h1>Not found</h1><p>There is no file here. The console "
      "is at <a href=\"/\">/</a>, the app at <a href=\"/app/\">/app/</a>.</p></body></html>");
}

// Decodes %XX; false on a malformed escape or a NUL.
bool percent_decode(std::string_view in, std::string& out) {
  auto hex = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
  };
  out.clear();
  for (std::size_t i = 0; i < in.size(); ++i) {
    if (in[i] != '%') {
      out += in[i];
      continue;
    }
    if (i + 2 >= in.size()) return false;
    int hi = hex(in[i + 1]), lo = hex(in[i + 2]);
    if (hi < 0 || lo < 0) return false;
    out += static_cast<char>(hi * 16 + lo);
    i += 2;
  }
  return out.find('\0') == std::string::npos;
}

// The path's segments, or nothing when one could leave the root or names a hidden file.
std::optional<std::vector<std::string>> safe_segments(const std::string& path) {
  std::vector<std::string> segs;
  std::size_t i = 0;
  while (i <= path.size()) {
    auto j = path.find('/', i);
    if (j == std::string::npos) j = path.size();
    std::string s = path.substr(i, j - i);
    if (!s.empty()) {
      if (s.front() == '.' || s.find('\\') != std::string::npos) return std::nullopt;
      segs.push_back(std::move(s));
    }
    i = j + 1;
  }
  return segs;
}

bool read_file(const fs::path& p, std::string& out) {
  std::error_code ec;
  if (!fs::is_regular_file(p, ec)) return false;
  std::ifstream in(p, std::ios::binary);
  if (!in) return false;
  std::ostringstream ss;
  ss << in.rdbuf();
  out = ss.str();
  return true;
}

}  // namespace

StaticFiles::StaticFiles(std::string root) : root_(std::move(root)) {
  std::error_code ec;
  built_ = !root_.empty() && fs::is_regular_file(fs::path(root_) / "index.html", ec);
}

bool StaticFiles::handles(std::string_view target) {
  auto path = target.substr(0, target.find('?'));
  auto under = [&](std::string_view prefix) {
    return path == prefix ||
           (path.size() > prefix.size() && path.substr(0, prefix.size()) == prefix &&
            path[prefix.size()] == '/');
  };
  return !under("/v1") && path != "/healthz" && path != "/metrics";
}

Response StaticFiles::serve(const Request& req) const {
  if (req.method != "GET") {
    auto r = page(405, "<!doctype html><title>Method not allowed</title><p>Use GET.</p>");
    r.headers.emplace_back("Allow", "GET");
    return r;
  }
  std::string_view target = req.target;
  target = target.substr(0, target.find('?'));
  target = target.substr(0, target.find('#'));
  std::string path;
  if (!percent_decode(target, path)) return not_found();
  auto segs = safe_segments(path);
  if (!segs) return not_found();
  if (!built_) {
    return page(
        503,
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>portier: no web "
        "console in this build</title></head><body><h1>portierd is running, without its web "
        "console</h1><p>This portierd was built without the web console and app (node and npm "
        "were missing, or the build of <code>web/</code> was skipped), or the directory it "
        "serves them from has no built files:</p><pre>" +
            (root_.empty() ? std::string("(none)") : root_) +
            "</pre><p>Build them with <code>make build</code> (or <code>npm ci &amp;&amp; npm run "
            "build</code> in <code>web/</code>), or start <code>portierd serve --web-root "
            "DIR</code> with a built directory. The REST API and the push stream work as "
            "usual under <code>/v1/</code>.</p></body></html>");
  }
  // /app without its slash: the app's scope and relative paths need it.
  if (path == "/app") {
    auto r = page(308, "");
    r.headers.emplace_back("Location", "/app/");
    return r;
  }
  fs::path file = fs::path(root_);
  for (const auto& s : *segs) file /= s;
  bool dir_like = path.empty() || path.back() == '/';
  bool in_app = !segs->empty() && (*segs)[0] == "app";
  std::error_code ec;
  if (dir_like || fs::is_directory(file, ec)) file /= "index.html";
  std::string body;
  bool found = read_file(file, body);
  if (!found) {
    // A page route (no file extension) of the console or the app: its index.html, so a
    // reload or a shared link works. Anything that looks like a file stays a 404.
    bool page_route = segs->empty() || segs->back().find('.') == std::string::npos;
    if (!page_route) return not_found();
    file = fs::path(root_) / (in_app ? "app/index.html" : "index.html");
    if (!read_file(file, body)) return not_found();
  }
  Response r;
  r.status = 200;
  std::string ext = file.extension().string();
  r.content_type = std::string(content_type(ext));
  bool hashed = !segs->empty() && (*segs)[0] == "assets" && found;
  // Hashed file names change with their content: cache them for good. The rest (pages, the
  // service worker, the manifest, icons) is revalidated on every use.
  r.headers.emplace_back("Cache-Control",
                         hashed ? "public, max-age=31536000, immutable" : "no-cache");
  if (file.filename() == "sw.js") r.headers.emplace_back("Service-Worker-Allowed", "/app/");
  if (req.accept_encoding.find("gzip") != std::string::npos) {
    std::string gz;
    if (read_file(fs::path(file.string() + ".gz"), gz)) {
      body = std::move(gz);
      r.headers.emplace_back("Content-Encoding", "gzip");
    }
    r.headers.emplace_back("Vary", "Accept-Encoding");
  } else if (fs::exists(fs::path(file.string() + ".gz"), ec)) {
    r.headers.emplace_back("Vary", "Accept-Encoding");
  }
  security_headers(r);
  r.body = std::move(body);
  return r;
}

}  // namespace portier
