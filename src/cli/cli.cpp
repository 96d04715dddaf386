#include "cli/cli.hpp"

#include <signal.h>
#include <sys/stat.h>
#include <termios.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <atomic>
#include <boost/json.hpp>
#include <condition_variable>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <mutex>
#include <sstream>

#include "client/durable_file.hpp"
#include "client/feed_client.hpp"
#include "client/rest.hpp"
#include "core/fields.hpp"

namespace portier::cli {
namespace json = boost::json;
namespace {

struct Config {
  std::string dir;  // --config, else $XDG_CONFIG_HOME/portier, else ~/.config/portier
  std::string server;
  std::string token;
  std::string ca;  // a CA file to trust for https:// (else the system's)
  std::string path() const { return dir + "/credentials.json"; }
};

std::string default_config_dir() {
  if (const char* x = std::getenv("XDG_CONFIG_HOME"); x && *x) return std::string(x) + "/portier";
  const char* home = std::getenv("HOME");
  return std::string(home ? home : ".") + "/.config/portier";
}

bool load(Config& c) {
  std::ifstream f(c.path());
  if (!f) return false;
  std::stringstream ss;
  ss << f.rdbuf();
  boost::system::error_code ec;
  auto v = json::parse(ss.str(), ec);
  if (ec || !v.is_object()) return false;
  if (auto* s = v.as_object().if_contains("server"); s && s->is_string()) c.server = s->as_string();
  if (auto* t = v.as_object().if_contains("token"); t && t->is_string()) c.token = t->as_string();
  if (auto* a = v.as_object().if_contains("ca"); a && a->is_string()) c.ca = a->as_string();
  return !c.server.empty() && !c.token.empty();
}

bool save(const Config& c) {
  std::error_code ec;
  std::filesystem::create_directories(c.dir, ec);
  ::chmod(c.dir.c_str(), 0700);
  // 0600 from its creation: the token never sits in a readable file.
  std::string text =
      json::serialize(json::object{{"server", c.server}, {"token", c.token}, {"ca", c.ca}}) + "\n";
  return client::write_file_atomically(c.path(), text, 0600).ok();
}

int exit_for(int status) {
  switch (status) {
    case 401:
      return kUnauthorized;
    case 403:
      return kForbidden;
    case 404:
      return kNotFound;
    case 409:
      return kConflict;
    case 429:
      return kRateLimited;
    case 400:
    case 413:
    case 415:
    case 422:
      return kInvalid;
    default:
      return status >= 500 ? kServerError : kFailed;
  }
}

// Prints an API error as "error: CODE: message (field)" and returns its exit code.
int report(const client::RestReply& r) {
  std::string code = "http_" + std::to_string(r.status), message = r.raw, field;
  if (r.body.is_object()) {
    if (auto* e = r.body.as_object().if_contains("error"); e && e->is_object()) {
      // The server's answer is untrusted: read what is there, never throw on its shape.
      if (auto c = str_field(e->as_object(), "code"); !c.empty()) code = c;
      if (auto m = str_field(e->as_object(), "message"); !m.empty()) message = m;
      field = str_field(e->as_object(), "field");
    }
  }
  std::cerr << "error: " << code << ": " << message << (field.empty() ? "" : " (" + field + ")")
            << "\n";
  return exit_for(r.status);
}

// key=value sets a string; key:=json sets raw JSON (numbers, true, ["a","b"], null).
bool parse_fields(const std::vector<std::string>& args, json::object& out) {
  for (const auto& a : args) {
    auto raw = a.find(":=");
    auto eq = a.find('=');
    if (raw != std::string::npos && raw < eq) {
      boost::system::error_code ec;
      auto v = json::parse(a.substr(raw + 2), ec);
      if (ec) {
        std::cerr << "error: " << a << ": the value after := is not JSON\n";
        return false;
      }
      out[a.substr(0, raw)] = v;
    } else if (eq != std::string::npos && eq > 0) {
      out[a.substr(0, eq)] = a.substr(eq + 1);
    } else {
      std::cerr << "error: " << a << ": fields are key=value or key:=json\n";
      return false;
    }
  }
  return true;
}

std::string read_password(bool from_stdin) {
  std::string pw;
  if (from_stdin || !::isatty(0)) {
    std::getline(std::cin, pw);
    return pw;
  }
  std::cerr << "password: ";
  termios old{};
  tcgetattr(0, &old);
  termios quiet = old;
  quiet.c_lflag &= ~static_cast<tcflag_t>(ECHO);
  tcsetattr(0, TCSANOW, &quiet);
  std::getline(std::cin, pw);
  tcsetattr(0, TCSANOW, &old);
  std::cerr << "\n";
  return pw;
}

std::string url_encode(const std::string& s) {
  std::string out;
  for (unsigned char ch : s) {
    if (std::isalnum(ch) || ch == '-' || ch == '_' || ch == '.' || ch == '~')
      out += static_cast<char>(ch);
    else {
      char b[4];
      std::snprintf(b, sizeof b, "%%%02X", ch);
      out += b;
    }
  }
  return out;
}

std::atomic<bool> g_interrupted{false};
std::mutex g_mu;
std::condition_variable g_cv;

// Reads a pushed message's fields without trusting their shape: a malformed or newer message
// prints what it has, never ends the watch.
std::string field(const json::object& o, const char* key, const char* absent = "?") {
  const auto* v = o.if_contains(key);
  return v && v->is_string() ? std::string(v->as_string()) : absent;
}
const json::object& sub(const json::object& o, const char* key) {
  static const json::object empty;
  const auto* v = o.if_contains(key);
  return v && v->is_object() ? v->as_object() : empty;
}

// One line per pushed message: when, feed, seq, what.
std::string describe(const client::Event& e) {
  if (e.type == "change") {
    const auto& c = sub(e.message, "change");
    std::string line = e.feed + " #" + std::to_string(e.seq) + " " + field(c, "op") + " " +
                       field(c, "kind") + " " + field(c, "id");
    const auto& r = sub(c, "record");
    if (r.contains("name"))
      line += " \"" + field(r, "name") + "\"";
    else if (r.contains("email"))
      line += " " + field(r, "email");
    return line;
  }
  if (e.type == "snapshot") {
    const auto* records = e.message.if_contains("records");
    return e.feed + " #" + std::to_string(e.seq) + " snapshot (" +
           std::to_string(records && records->is_array() ? records->as_array().size() : 0) +
           " records)";
  }
  if (e.type == "device") {
    const auto& d = sub(e.message, "device");
    std::int64_t behind = 0;
    if (const auto* feeds = d.if_contains("feeds"); feeds && feeds->is_array())
      for (const auto& f : feeds->as_array())
        if (const auto* b = f.is_object() ? f.as_object().if_contains("behind") : nullptr;
            b && b->is_int64())
          behind += b->as_int64();
    const auto* connected = d.if_contains("connected");
    return "device " + field(d, "id") + " (" + field(d, "name", "unnamed") + ") " +
           (connected && connected->is_bool() && connected->as_bool() ? "online" : "offline") +
           (behind ? ", " + std::to_string(behind) + " changes behind" : ", up to date");
  }
  if (e.type == "ready") return "connected";
  if (e.type == "closed") return "disconnected; reconnecting";
  if (e.type == "revoked") return "revoked: " + field(e.message, "reason");
  if (e.type == "error") return "error: " + field(e.message, "code");
  return e.type;
}

int watch(const Config& cfg, const std::vector<std::string>& feeds, bool as_json) {
  client::ClientOptions o;
  o.url = cfg.server;
  o.token = cfg.token;
  o.ca_file = cfg.ca;
  o.feeds = feeds;
  o.device_kind = "console";
  o.device_name = "portier watch";
  client::FeedClient fc(o);
  fc.on_event([as_json](const client::Event& e) {
    if (as_json) {
      if (!e.message.empty()) std::cout << json::serialize(e.message) << std::endl;
      return;
    }
    auto now = std::chrono::system_clock::now();
    auto t = std::chrono::system_clock::to_time_t(now);
    char ts[32];
    std::strftime(ts, sizeof ts, "%H:%M:%S", std::localtime(&t));
    std::cout << ts << " " << describe(e) << std::endl;
  });
  ::signal(SIGINT, [](int) {
    g_interrupted = true;
    g_cv.notify_all();
  });
  ::signal(SIGTERM, [](int) {
    g_interrupted = true;
    g_cv.notify_all();
  });
  fc.start();
  // Until interrupted, or the server refuses us for good.
  while (!g_interrupted) {
    if (!fc.stopped_reason().empty()) break;
    std::unique_lock lock(g_mu);
    g_cv.wait_for(lock, std::chrono::milliseconds(200));
  }
  fc.stop();
  auto why = fc.stopped_reason();
  if (!why.empty() && !g_interrupted) {
    std::cerr << "error: " << why << "\n";
    return why == "forbidden_feed" ? kForbidden : kUnauthorized;
  }
  return kOk;
}

}  // namespace

int run(int argc, char** argv) {
  CLI::App app{"portier: manage doors, people and access; watch changes live"};
  app.require_subcommand(1);
  app.fallthrough();  // --server and --config work after the subcommand too
  Config cfg;
  std::string config_dir, server_opt;
  bool raw_json = false;
  app.add_option("--config", config_dir,
                 "directory of credentials.json (default ~/.config/portier)");
  app.add_option("--server", server_opt, "server URL (default: the one logged in to)");
  std::string ca_opt;
  app.add_option("--ca", ca_opt,
                 "trust this CA certificate (PEM) for https:// (default: the system's CAs)");

  auto* login = app.add_subcommand("login", "log in and save the token (mode 0600)");
  std::string email;
  bool pw_stdin = false;
  login->add_option("--email", email, "your email")->required();
  login->add_flag("--password-stdin", pw_stdin, "read the password from standard input");
  auto* logout = app.add_subcommand("logout", "revoke the saved token and forget it");
  auto* me = app.add_subcommand("me", "who you are");

  std::map<std::string, CLI::App*> resources;
  std::string id;
  std::vector<std::string> fields;
  std::string limit, cursor;
  for (const char* plural : {"sites", "doors", "units", "users", "schedules", "grants"}) {
    auto* r = app.add_subcommand(plural, std::string("manage ") + plural);
    r->require_subcommand(1);
    auto* list = r->add_subcommand("list", "list (paged)");
    list->add_option("--limit", limit);
    list->add_option("--cursor", cursor);
    r->add_subcommand("get", "show one")->add_option("id", id)->required();
    r->add_subcommand("create", "create: key=value (text) or key:=json")
        ->add_option("fields", fields);
    auto* update =
        r->add_subcommand("update", "change fields: key=value or key:=json (null removes)");
    update->add_option("id", id)->required();
    update->add_option("fields", fields);
    r->add_subcommand("delete", "delete one")->add_option("id", id)->required();
    resources[plural] = r;
  }
  auto* access = app.add_subcommand("access", "access decisions");
  access->require_subcommand(1);
  auto* check =
      access->add_subcommand("check", "may USER open DOOR at AT (default now), and if not why");
  std::string user, door, at;
  check->add_option("--user", user, "user id (default: you)");
  check->add_option("--door", door, "door id")->required();
  check->add_option("--at", at, "RFC 3339 time");
  auto* audit = app.add_subcommand("audit", "the audit log, newest first");
  std::string kind, from, to;
  audit->add_option("--kind", kind);
  audit->add_option("--from", from);
  audit->add_option("--to", to);
  audit->add_option("--limit", limit);
  auto* devices = app.add_subcommand("devices", "devices and what they hold (delivery receipts)");
  devices->add_option("--limit", limit);
  devices->add_option("--cursor", cursor);
  auto* open_cmd = app.add_subcommand("open", "open a door through its unit");
  std::string open_door;
  bool override_lockdown = false;
  open_cmd->add_option("door", open_door, "door id")->required();
  open_cmd->add_flag("--override-lockdown", override_lockdown,
                     "owners: open although the site is locked down");
  auto* unit_cred = app.add_subcommand("unit-credential",
                                       "issue a unit's credential (the old one stops working)");
  unit_cred->add_option("id", id)->required();
  auto* unit_enroll = app.add_subcommand(
      "unit-enrollment", "issue a single-use code for portier-unit enroll (valid 24 h)");
  unit_enroll->add_option("id", id)->required();
  int ttl_seconds = 0;
  unit_enroll->add_option("--ttl", ttl_seconds, "seconds the code is valid (default 86400)");
  auto* watch_cmd =
      app.add_subcommand("watch", "print each pushed change as it arrives; survives restarts");
  std::vector<std::string> feeds;
  watch_cmd->add_option("feeds", feeds, "feeds (default: your own)");
  watch_cmd->add_flag("--json", raw_json, "print each message as JSON");

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e) == 0 ? kOk : kUsage;
  }
  cfg.dir = config_dir.empty() ? default_config_dir() : config_dir;
  bool logged_in = load(cfg);
  if (!server_opt.empty()) cfg.server = server_opt;
  if (!ca_opt.empty()) cfg.ca = std::filesystem::absolute(ca_opt).string();

  if (*login) {
    if (cfg.server.empty()) {
      std::cerr << "error: give --server URL the first time\n";
      return kUsage;
    }
    std::string password = read_password(pw_stdin);
    auto r = client::RestClient(cfg.server, cfg.ca)
                 .request("POST", "/v1/auth/login",
                          json::object{{"email", email}, {"password", password}});
    if (!r) {
      std::cerr << "error: " << r.error().message << "\n";
      return kUnreachable;
    }
    if (r->status != 200) return report(*r);
    cfg.token = r->body.is_object() ? str_field(r->body.as_object(), "token") : "";
    if (cfg.token.empty()) {
      std::cerr << "error: the server's answer has no token\n";
      return kServerError;
    }
    if (!save(cfg)) {
      std::cerr << "error: cannot write " << cfg.path() << "\n";
      return kFailed;
    }
    std::cout << "logged in to " << cfg.server << " as " << email << "\n";
    return kOk;
  }
  if (!logged_in) {
    std::cerr << "error: not logged in: portier login --server URL --email EMAIL\n";
    return kUnauthorized;
  }
  if (*watch_cmd) {
    if (feeds.empty()) {  // what the caller would want to see: her organization, sites, or self
      auto r = client::RestClient(cfg.server, cfg.ca).request("GET", "/v1/me", nullptr, cfg.token);
      if (!r) {
        std::cerr << "error: " << r.error().message << "\n";
        return kUnreachable;
      }
      if (r->status != 200) return report(*r);
      static const json::object none;
      const json::object& body = r->body.is_object() ? r->body.as_object() : none;
      const auto& u = sub(body, "user");
      std::string role = str_field(u, "role");
      std::vector<std::string> site_ids;
      if (const auto* s = u.if_contains("site_ids"); s && s->is_array())
        for (const auto& id : s->as_array())
          if (id.is_string()) site_ids.emplace_back(id.as_string());
      if (role == "owner" || (role == "admin" && site_ids.empty()))
        feeds.push_back("org/" + str_field(sub(body, "org"), "id"));
      else if (role == "admin")
        for (const auto& s : site_ids) feeds.push_back("site/" + s);
      else
        feeds.push_back("user/" + str_field(u, "id"));
    }
    return watch(cfg, feeds, raw_json);
  }

  client::RestClient rest(cfg.server, cfg.ca);
  auto call = [&](const std::string& method, const std::string& target,
                  const json::value& body = nullptr) -> int {
    auto r = rest.request(method, target, body, cfg.token);
    if (!r) {
      std::cerr << "error: " << r.error().message << "\n";
      return kUnreachable;
    }
    if (r->status >= 300) return report(*r);
    const auto* items = r->body.is_object() ? r->body.as_object().if_contains("items") : nullptr;
    if (items && items->is_array()) {
      for (const auto& item : items->as_array()) std::cout << json::serialize(item) << "\n";
      if (const auto* next = r->body.as_object().if_contains("next_cursor");
          next && !next->is_null())
        std::cerr << "more: --cursor " << json::serialize(*next) << "\n";
    } else if (!r->raw.empty()) {
      std::cout << r->raw << "\n";
    }
    return kOk;
  };

  if (*logout) {
    int rc = call("POST", "/v1/auth/logout");
    std::filesystem::remove(cfg.path());
    return rc;
  }
  if (*me) return call("GET", "/v1/me");
  // A page of a paged route: --limit (default 100) and --cursor.
  auto page_of = [&](const std::string& path) {
    std::string q = path + "?limit=" + (limit.empty() ? std::string("100") : url_encode(limit));
    if (!cursor.empty()) q += "&cursor=" + url_encode(cursor);
    return q;
  };
  if (*devices) return call("GET", page_of("/v1/devices"));
  if (*open_cmd)
    return call("POST", "/v1/doors/" + url_encode(open_door) + "/open",
                override_lockdown ? json::value(json::object{{"override_lockdown", true}})
                                  : json::value(nullptr));
  if (*unit_cred)
    return call("POST", "/v1/units/" + url_encode(id) + "/credentials", json::object{});
  if (*unit_enroll)
    return call("POST", "/v1/units/" + url_encode(id) + "/enrollment",
                ttl_seconds > 0 ? json::object{{"ttl_seconds", ttl_seconds}} : json::object{});
  if (*check) {
    std::string q = "/v1/access/check?door_id=" + url_encode(door);
    if (!user.empty()) q += "&user_id=" + url_encode(user);
    if (!at.empty()) q += "&at=" + url_encode(at);
    return call("GET", q);
  }
  if (*audit) {
    std::string q = "/v1/audit?limit=" + (limit.empty() ? std::string("100") : url_encode(limit));
    if (!kind.empty()) q += "&kind=" + url_encode(kind);
    if (!from.empty()) q += "&from=" + url_encode(from);
    if (!to.empty()) q += "&to=" + url_encode(to);
    return call("GET", q);
  }
  for (auto& [plural, sub] : resources) {
    if (!*sub) continue;
    std::string base = "/v1/" + plural;
    if (*sub->get_subcommand("list")) return call("GET", page_of(base));
    if (*sub->get_subcommand("get")) return call("GET", base + "/" + url_encode(id));
    if (*sub->get_subcommand("delete")) return call("DELETE", base + "/" + url_encode(id));
    json::object body;
    if (!parse_fields(fields, body)) return kUsage;
    if (*sub->get_subcommand("create")) return call("POST", base, body);
    return call("PATCH", base + "/" + url_encode(id), body);
  }
  return kUsage;
}

}  // namespace portier::cli
