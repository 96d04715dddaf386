#include "bench/report.hpp"

#include <fmt/format.h>

#include <string>

namespace portier::bench {
namespace json = boost::json;

namespace {

double num(const json::object& o, const char* k) {
  const auto* v = o.if_contains(k);
  return v && v->is_number() ? v->to_number<double>() : 0.0;
}

const json::object& obj(const json::object& o, const char* k) {
  static const json::object empty;
  const auto* v = o.if_contains(k);
  return v && v->is_object() ? v->as_object() : empty;
}

void line(std::FILE* out, const std::string& s) {
  std::fputs((s + "\n").c_str(), out);
  std::fflush(out);
}

std::string lat_cells(const json::object& s) {
  return fmt::format("{:>9.2f} {:>9.2f} {:>9.2f} {:>9.2f} {:>6}", num(s, "p50_ms"),
                     num(s, "p90_ms"), num(s, "p99_ms"), num(s, "max_ms"),
                     static_cast<std::int64_t>(num(s, "lost")));
}

void seed_line(std::FILE* out, const std::string& text) {
  if (!text.empty()) line(out, "  " + text);
}

std::string seed_text(const json::object& s) {
  if (s.empty()) return "";
  auto users = static_cast<std::int64_t>(num(s, "users"));
  if (s.at("how") != "import")
    return fmt::format(
        "seeded {} users and grants one by one in {:.1f} s (no POST /v1/import; "
        "sessions use the owner's token)",
        users, num(s, "total_ms") / 1e3);
  return fmt::format("seeded {} users in {:.1f} s: import {:.1f} s, sign-in codes {:.1f} s", users,
                     num(s, "total_ms") / 1e3, num(s, "import_ms") / 1e3,
                     num(s, "signin_ms") / 1e3);
}

}  // namespace

void print_setup(std::FILE* out, const json::object& s) {
  const auto& m = obj(s, "machine");
  line(out,
       fmt::format("machine: {} cores ({}), {:.1f} GiB, {}, {}, {}",
                   static_cast<int>(num(m, "nproc")), std::string(m.at("cpu").as_string()),
                   num(m, "mem_total_kb") / 1048576.0, std::string(m.at("kernel").as_string()),
                   std::string(m.at("os").as_string()), std::string(m.at("compiler").as_string())));
  line(out, fmt::format("bench: fd limit {}, {} workers x {} io thread(s), up to {} sessions each, "
                        "{} per source address ({}); median of {} runs after a warm-up",
                        static_cast<std::int64_t>(num(s, "fd_limit")),
                        static_cast<int>(num(s, "workers")),
                        static_cast<int>(num(s, "threads_per_worker")),
                        static_cast<std::int64_t>(num(s, "sessions_per_worker")),
                        static_cast<std::int64_t>(num(s, "sessions_per_address")),
                        std::string(s.at("source_addresses").as_string()),
                        static_cast<int>(num(s, "repeat"))));
  auto delay = static_cast<int>(num(s, "ack_delay_ms"));
  auto spread = static_cast<int>(num(s, "ack_spread_ms"));
  if (delay > 0)
    line(out, fmt::format("devices ack {} ms after a change (--ack-delay-ms, --ack-spread-ms)",
                          spread > 0 ? fmt::format("{}-{}", delay, delay + spread)
                                     : std::to_string(delay)));
  else if (s.contains("ack_delay_ms"))
    line(out, "devices ack each change at once (--ack-delay-ms 0)");
  line(out, "peers: " + std::string(s.at("mosquitto").as_string()) + "; portierd " +
                std::string(s.at("portierd").as_string()));
}

void print_fanout(std::FILE* out, const json::object& f) {
  line(out, "");
  line(out, fmt::format("fanout: N = {} sessions, one schedule rename reaching all of them, "
                        "{}-byte frame; ms from the request's send",
                        static_cast<std::int64_t>(num(f, "n")),
                        static_cast<std::int64_t>(num(f, "bytes"))));
  seed_line(out, seed_text(obj(f, "seed")));
  line(out, fmt::format("  {:<20} {:>9} {:>9} {:>9} {:>9} {:>9} {:>6} {:>11} {:>11}", "", "write",
                        "p50", "p90", "p99", "last", "lost", "server CPU", "bench CPU"));
  for (const char* peer : {"portier", "mosquitto", "floor"}) {
    const auto& p = obj(f, peer);
    if (p.empty()) continue;
    auto write = p.contains("write_ms") ? fmt::format("{:>9.2f}", num(p, "write_ms"))
                                        : fmt::format("{:>9}", "-");
    line(out, fmt::format("  {:<20} {} {} {:>8.1f} ms {:>8.1f} ms", peer, write, lat_cells(p),
                          num(p, "server_cpu_ms"), num(p, "client_cpu_ms")));
  }
  const auto& r = obj(f, "ratios");
  for (const char* peer : {"mosquitto", "floor"}) {
    const auto& x = obj(r, peer);
    if (x.empty()) continue;
    line(out, fmt::format("  {:<20} {:>9} {:>9.2f} {:>9} {:>9.2f} {:>9.2f}",
                          std::string("portier/") + peer, "", num(x, "p50"), "", num(x, "p99"),
                          num(x, "last")));
  }
}

void print_edits(std::FILE* out, const json::object& e) {
  line(out, "");
  line(out, fmt::format("edits: {} user renames at {}/s (achieved {:.1f}/s), each to one of N = {} "
                        "sessions; ms from the request's send",
                        static_cast<std::int64_t>(num(e, "edits")), num(e, "rate"),
                        num(e, "achieved_rate"), static_cast<std::int64_t>(num(e, "n"))));
  seed_line(out, seed_text(obj(e, "seed")));
  line(out, fmt::format("  {:<20} {:>9} {:>9} {:>9} {:>9} {:>6}", "", "p50", "p90", "p99", "max",
                        "lost"));
  line(out, fmt::format("  {:<20} {}", "delivery", lat_cells(obj(e, "delivery"))));
  line(out, fmt::format("  {:<20} {}", "write (response)", lat_cells(obj(e, "write"))));
  line(out, fmt::format("  server CPU {:.1f} ms over the run", num(e, "server_cpu_ms")));
}

void print_open(std::FILE* out, const json::object& o) {
  line(out, "");
  line(out, fmt::format("open: app -> server -> unit -> app at {}/s over {} units, {} apps; ms "
                        "from the app's send to its open_result",
                        num(o, "rate"), static_cast<std::int64_t>(num(o, "units")),
                        static_cast<std::int64_t>(num(o, "apps"))));
  seed_line(out, seed_text(obj(o, "seed")));
  line(out, fmt::format("  {:<28} {:>7} {:>9} {:>9} {:>9} {:>9} {:>6}", "", "opens", "p50", "p90",
                        "p99", "max", "lost"));
  const auto& fan = obj(o, "fanout");
  for (auto [key, label] :
       {std::pair{"alone", std::string("alone")},
        std::pair{"during", fmt::format("during {}-session fan-outs",
                                        static_cast<std::int64_t>(num(o, "during_n")))},
        std::pair{"after", std::string("in the second after each")}}) {
    const auto& s = obj(o, key);
    line(out,
         fmt::format("  {:<28} {:>7} {}", label,
                     static_cast<std::int64_t>(num(s, "count") + num(s, "lost")), lat_cells(s)));
  }
  line(out, fmt::format("  (those {} schedule edits: write {:.1f} ms, last device {:.1f} ms "
                        "(medians; slowest {:.1f} ms), lost {})",
                        static_cast<std::int64_t>(num(fan, "edits")), num(fan, "write_ms"),
                        num(fan, "last_ms"), num(fan, "last_max_ms"),
                        static_cast<std::int64_t>(num(fan, "lost"))));
  std::string each;
  for (const auto& e : o.at("during_edits").as_array()) {
    const auto& x = e.as_object();
    each += fmt::format("{}{:.1f} ({:.0f} opens, last {:.0f})", each.empty() ? "" : ", ",
                        num(x, "p99_ms"), num(x, "opens"), num(x, "last_ms"));
  }
  line(out, "  (p99 ms during each edit: " + each + ")");
}

void print_idle(std::FILE* out, const json::object& i) {
  line(out, "");
  line(out, fmt::format("idle: N = {} idle sessions, CPU over {} s",
                        static_cast<std::int64_t>(num(i, "n")), num(i, "seconds")));
  seed_line(out, seed_text(obj(i, "seed")));
  line(out, fmt::format("  {:<12} {:>16} {:>10} {:>10} {:>12} {:>20}", "", "server KiB/sess",
                        "heap", "files", "CPU % core", "CPU us/session/s"));
  for (const char* peer : {"portier", "mosquitto"}) {
    const auto& p = obj(i, peer);
    line(out, fmt::format("  {:<12} {:>16.2f} {:>10.2f} {:>10.2f} {:>12.2f} {:>20.3f}", peer,
                          num(p, "kib_per_session"), num(p, "anon_kib_per_session"),
                          num(p, "file_kib_per_session"), num(p, "cpu_pct"),
                          num(p, "cpu_us_per_session_s")));
  }
}

void print_storm(std::FILE* out, const json::object& s) {
  line(out, "");
  line(out,
       fmt::format("storm: N = {} sessions, portierd restarted (SIGTERM, start on the same port);"
                   " ms from listening again until each holds the edit made then",
                   static_cast<std::int64_t>(num(s, "n"))));
  seed_line(out, seed_text(obj(s, "seed")));
  line(out, fmt::format("  {:<16} {:>9} {:>9} {:>9} {:>9} {:>6}   {}", "", "p50", "p90", "p99",
                        "all", "lost",
                        "(old server's stop, new one's start; resumed/snapshots; "
                        "server CPU since its start)"));
  for (const char* mode : {"warm", "cold"}) {
    const auto& m = obj(s, mode);
    if (m.empty()) continue;
    line(out, fmt::format("  {:<16} {}   stop {:.0f} ms, start {:.0f} ms; {}/{}; {:.0f} ms",
                          std::string(mode) + " back on feed", lat_cells(obj(m, "resynced")),
                          num(m, "stop_ms"), num(m, "start_ms"),
                          static_cast<std::int64_t>(num(m, "resumed")),
                          static_cast<std::int64_t>(num(m, "snapshots")), num(m, "server_cpu_ms")));
    line(out, fmt::format("  {:<16} {}   (the edit's write: {:.1f} ms)",
                          std::string(mode) + " has edit", lat_cells(m), num(m, "write_ms")));
  }
}

std::int64_t figures_with_losses(const json::value& v) {
  std::int64_t n = 0;
  if (const auto* o = v.if_object()) {
    bool lossy = false;
    for (const auto& [k, x] : *o) {
      if (k == "lost" || k == "misdelivered" || k == "failed_writes")
        lossy = lossy || (x.is_number() && x.to_number<double>() > 0);
      else
        n += figures_with_losses(x);
    }
    n += lossy ? 1 : 0;
  } else if (const auto* a = v.if_array()) {
    for (const auto& x : *a) n += figures_with_losses(x);
  }
  return n;
}

}  // namespace portier::bench
