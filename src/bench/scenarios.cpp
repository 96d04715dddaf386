#include "bench/scenarios.hpp"

#include <sys/resource.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <fstream>
#include <iostream>
#include <limits>
#include <map>
#include <stdexcept>
#include <thread>

#include "bench/fleet.hpp"
#include "bench/http.hpp"
#include "bench/peers.hpp"
#include "bench/proc.hpp"
#include "bench/seed.hpp"
#include "bench/wire.hpp"

namespace portier::bench {
namespace json = boost::json;
using namespace std::chrono_literals;

json::object to_json(const Summary& s) {
  return {{"count", s.count}, {"lost", s.lost},  {"p50_ms", s.p50},
          {"p90_ms", s.p90},  {"p99_ms", s.p99}, {"max_ms", s.max}};
}

namespace {

constexpr const char* kHost = "127.0.0.1";

double ms_between(std::int64_t from, std::int64_t to) {
  return static_cast<double>(to - from) / 1e6;
}

// Receipt times relative to t0, in ms; sessions that never got it are lost.
Summary latencies(const std::vector<std::int64_t>& at, std::int64_t t0) {
  std::vector<double> v;
  std::size_t lost = 0;
  for (auto t : at) {
    if (t < 0)
      lost++;
    else
      v.push_back(ms_between(t0, t));
  }
  return summarize(std::move(v), lost);
}

void sleep_s(double s) { std::this_thread::sleep_for(std::chrono::duration<double>(s)); }

std::string read_first_line(const std::string& path) {
  std::ifstream f(path);
  std::string line;
  std::getline(f, line);
  return line;
}

std::string cpu_model() {
  std::ifstream f("/proc/cpuinfo");
  for (std::string line; std::getline(f, line);)
    if (line.rfind("model name", 0) == 0) return line.substr(line.find(':') + 2);
  return "";
}

std::int64_t mem_total_kb() {
  std::ifstream f("/proc/meminfo");
  for (std::string line; std::getline(f, line);)
    if (line.rfind("MemTotal:", 0) == 0) return std::stoll(line.substr(9));
  return 0;
}

// One fanout measurement: the figures of one edit (or publish) reaching every session.
struct Shot {
  Summary lat;
  double write_ms = 0;       // the request's response time (portier only)
  double server_cpu_ms = 0;  // CPU the server used from the send until all had it
  double client_cpu_ms = 0;  // CPU the bench workers used meanwhile
  std::int64_t sent_ns = 0;  // the request's send
  std::int64_t end_ns = 0;   // the response or the last receipt, whichever came later
};

json::object shots_json(const std::vector<Shot>& shots, bool with_write) {
  std::vector<Summary> s;
  std::vector<double> write, server, client;
  json::array runs;
  for (std::size_t i = 0; i < shots.size(); ++i) {
    const auto& x = shots[i];
    auto r = to_json(x.lat);
    if (with_write) r["write_ms"] = x.write_ms;
    r["server_cpu_ms"] = x.server_cpu_ms;
    r["client_cpu_ms"] = x.client_cpu_ms;
    runs.push_back(std::move(r));
    if (i == 0) continue;  // the first is a warm-up
    s.push_back(x.lat);
    write.push_back(x.write_ms);
    server.push_back(x.server_cpu_ms);
    client.push_back(x.client_cpu_ms);
  }
  auto out = to_json(median_summary(s));
  out["last_ms"] = out["max_ms"];
  if (with_write) out["write_ms"] = median(write);
  out["server_cpu_ms"] = median(server);
  out["client_cpu_ms"] = median(client);
  out["runs"] = std::move(runs);
  return out;
}

double ratio(const json::object& a, const json::object& b, const char* key) {
  double d = b.at(key).as_double();
  return d > 0 ? a.at(key).as_double() / d : 0;
}

}  // namespace

struct Run::Impl {
  Options o;
  std::unique_ptr<TempDir> dir;
  std::unique_ptr<Fleet> fleet;
  std::unique_ptr<Mosquitto> mosquitto;
  std::unique_ptr<FloorServer> floor;
  std::string exe;
  std::int64_t tag = 0;
  std::size_t next_address = 0, fd_limit = 0, per_worker = 0;
  int workers = 0, servers = 0;
  std::int64_t begin = now_ns();

  void log(const std::string& s) const {
    std::fprintf(stderr, "[bench %7.1fs] %s\n", ms_between(begin, now_ns()) / 1e3, s.c_str());
  }

  static std::string address(std::size_t k) {
    // 127.0.0.2 … 127.0.0.254, then 127.0.1.1 … (all of 127/8 is loopback).
    std::size_t host = k + 2;
    if (host <= 254) return "127.0.0." + std::to_string(host);
    host -= 255;
    return "127.0." + std::to_string(1 + host / 254) + "." + std::to_string(1 + host % 254);
  }

  // Fresh source addresses for a phase of n sessions, so no 4-tuple left in TIME_WAIT by an
  // earlier phase is ever needed again.
  std::vector<std::string> sources(std::size_t n) {
    std::vector<std::string> out;
    for (std::size_t i = 0; i < n; ++i) out.push_back(address(next_address + i / o.per_address));
    next_address += (n + o.per_address - 1) / o.per_address;
    return out;
  }

  std::unique_ptr<Portierd> server(const std::string& name) {
    auto data = dir->path() + "/" + name + "-" + std::to_string(++servers);
    auto p = std::make_unique<Portierd>(o.portierd, data, data + ".log", o.portierd_flags);
    p->init(kOwnerEmail, kOwnerPassword);
    p->start();
    log("portierd " + name + " on 127.0.0.1:" + std::to_string(p->port()) + " (pid " +
        std::to_string(p->pid()) + ", log " + p->log() + ")");
    return p;
  }

  World seed_world(Portierd& p, SeedPlan plan) {
    plan.api_only = o.api_seed;
    auto w = seed(kHost, p.port(), plan, [this](const std::string& s) { log(s); });
    log("seeded (" + w.seeding + ") in " + std::to_string(static_cast<int>(w.total_ms)) + " ms");
    return w;
  }

  json::object seed_json(const World& w, std::size_t users) const {
    return {{"how", w.seeding},         {"users", users},           {"own_tokens", w.own_tokens},
            {"import_ms", w.import_ms}, {"signin_ms", w.signin_ms}, {"total_ms", w.total_ms}};
  }

  std::vector<json::object> device_specs(const World& w, std::size_t n) {
    auto src = sources(n);
    std::vector<json::object> specs;
    for (std::size_t i = 0; i < n; ++i)
      specs.push_back({{"role", "device"},
                       {"token", w.members[i].token},
                       {"feed", "user/" + w.members[i].id},
                       {"device", "bench-" + std::to_string(i)},
                       {"src", src[i]}});
    return specs;
  }

  std::vector<json::object> plain_specs(std::size_t n, bool mqtt) {
    auto src = sources(n);
    std::vector<json::object> specs;
    for (std::size_t i = 0; i < n; ++i) {
      json::object s{{"role", "device"}, {"src", src[i]}};
      if (mqtt) {
        s["client_id"] = "bench-" + std::to_string(next_address) + "-" + std::to_string(i);
        s["topic"] = "bench/fanout";
      }
      specs.push_back(std::move(s));
    }
    return specs;
  }

  std::chrono::milliseconds connect_timeout(std::size_t n) const {
    return std::chrono::milliseconds(static_cast<std::int64_t>(60'000 + n * 20));
  }

  double connect(const std::string& kind, unsigned short port, std::vector<json::object> specs,
                 const std::string& what, int only_worker = -1, int first_worker = 0) {
    auto n = specs.size();
    auto r = fleet->connect(kind, kHost, port, std::move(specs), connect_timeout(n), only_worker,
                            first_worker);
    if (r.failed > 0 || r.pending > 0 || r.ok != n)
      throw std::runtime_error(what + ": " + std::to_string(r.ok) + " of " + std::to_string(n) +
                               " sessions connected (" + r.error + ")");
    log(what + ": " + std::to_string(n) + " sessions in " + std::to_string(static_cast<int>(r.ms)) +
        " ms");
    return r.ms;
  }

  std::chrono::milliseconds loss_timeout() const {
    return std::chrono::milliseconds(static_cast<std::int64_t>(o.loss_timeout_s * 1000));
  }

  // Waits until `pid` used under 2% of a core over 200 ms (at most 10 s): the previous
  // fan-out's acks and frees are done, so one measurement does not pay for the last one.
  void quiesce(pid_t pid) const {
    auto deadline = std::chrono::steady_clock::now() + 10s;
    auto before = sample_process(pid);
    while (std::chrono::steady_clock::now() < deadline) {
      std::this_thread::sleep_for(200ms);
      auto now = sample_process(pid);
      if (now.cpu_us - before.cpu_us < 4000) return;
      before = now;
    }
  }

  // Renames the schedule every member's grant uses; the change reaches all their feeds.
  // `settle`: first wait for the server to be quiet (not while opens keep it busy).
  Shot portier_shot(Portierd& p, Http& h, const World& w, std::size_t* bytes, bool settle = true) {
    Shot s;
    if (settle) quiesce(p.pid());
    auto t = ++tag;
    fleet->arm(t);
    auto cpu0 = sample_process(p.pid());
    auto client0 = fleet->stats();
    auto r = h.json("PATCH", "/v1/schedules/" + w.schedule_id, json::object{{"name", tag_text(t)}},
                    w.owner_token);
    if (r.status != 200)
      throw std::runtime_error("PATCH schedule: " + std::to_string(r.status) + " " + r.body +
                               r.error);
    auto times = fleet->wait(loss_timeout());
    auto client1 = fleet->stats();
    // The server's CPU for the edit includes what it does after the last receipt (the feed rows
    // of a big fan-out are written a moment later), and the idle sessions' bit meanwhile.
    if (settle) quiesce(p.pid());
    auto cpu1 = sample_process(p.pid());
    s.lat = latencies(times.at, r.sent_ns);
    s.write_ms = r.ms();
    s.sent_ns = r.sent_ns;
    s.end_ns = r.done_ns;
    for (auto at : times.at) s.end_ns = std::max(s.end_ns, at);
    s.server_cpu_ms = static_cast<double>(cpu1.cpu_us - cpu0.cpu_us) / 1e3;
    s.client_cpu_ms = static_cast<double>(client1.cpu_us - client0.cpu_us) / 1e3;
    if (bytes) *bytes = std::max(*bytes, times.bytes);
    return s;
  }

  void check_client(const std::string& what) {
    auto st = fleet->stats(true);
    if (st.gaps > 0 || st.errors > 0)
      throw std::runtime_error(what + ": the sessions saw " + std::to_string(st.gaps) +
                               " seq gaps and " + std::to_string(st.errors) +
                               " errors (first: " + st.error + ")");
  }
};

Run::Run(Options o, std::size_t max_sessions) : impl_(std::make_unique<Impl>()) {
  auto& m = *impl_;
  m.o = std::move(o);
  m.exe = self_exe();
  m.dir = std::make_unique<TempDir>("portier-bench");
  if (m.o.keep) m.dir->keep();
  rlimit rl{};
  getrlimit(RLIMIT_NOFILE, &rl);
  m.fd_limit = static_cast<std::size_t>(rl.rlim_cur);
  // Each worker keeps some descriptors for itself (pipes, epoll, eventfds).
  m.per_worker = m.fd_limit > 400 ? m.fd_limit - 200 : m.fd_limit / 2;
  auto cores = static_cast<int>(std::max(1L, sysconf(_SC_NPROCESSORS_ONLN)));
  m.workers = m.o.workers > 0
                  ? m.o.workers
                  : std::max<int>(
                        cores, static_cast<int>((max_sessions + m.per_worker - 1) / m.per_worker));
  if (static_cast<std::size_t>(m.workers) * m.per_worker < max_sessions)
    throw std::runtime_error("--workers " + std::to_string(m.workers) + " cannot hold " +
                             std::to_string(max_sessions) + " sessions at " +
                             std::to_string(m.per_worker) + " each");
  m.log("fd limit " + std::to_string(m.fd_limit) + " per process: " + std::to_string(m.workers) +
        " worker processes x " + std::to_string(m.o.threads) + " io thread(s), up to " +
        std::to_string(m.per_worker) + " sessions each; " + std::to_string(m.o.per_address) +
        " sessions per source address from 127.0.0.2; data and logs in " + m.dir->path());
  m.fleet = std::make_unique<Fleet>(m.exe, m.workers, m.o.threads);
  m.fleet->mode(true, m.o.backoff_ms, m.o.ack_delay_ms, m.o.ack_spread());
  m.mosquitto = std::make_unique<Mosquitto>(m.o.mosquitto, m.dir->path());
  m.mosquitto->start();
  m.floor = std::make_unique<FloorServer>(m.exe);
  m.log("mosquitto on 127.0.0.1:" + std::to_string(m.mosquitto->port()) +
        ", floor on 127.0.0.1:" + std::to_string(m.floor->port()));
}

Run::~Run() = default;

json::object Run::setup() const {
  const auto& m = *impl_;
  utsname u{};
  uname(&u);
  std::string mosquitto_version;
  {
    Child c({m.o.mosquitto, "-h"}, {.pipe_stdout = true});
    if (auto line = c.read_line(5s)) mosquitto_version = *line;
  }
  return {
      {"machine",
       {{"nproc", sysconf(_SC_NPROCESSORS_ONLN)},
        {"cpu", cpu_model()},
        {"mem_total_kb", mem_total_kb()},
        {"kernel", std::string(u.sysname) + " " + u.release},
        {"os", read_first_line("/etc/debian_version").empty()
                   ? ""
                   : "Debian " + read_first_line("/etc/debian_version")},
        {"compiler", "g++ " __VERSION__}}},
      {"fd_limit", m.fd_limit},
      {"workers", m.workers},
      {"threads_per_worker", m.o.threads},
      {"sessions_per_worker", m.per_worker},
      {"sessions_per_address", m.o.per_address},
      {"source_addresses",
       m.next_address == 0 ? "" : "127.0.0.2-" + Impl::address(m.next_address - 1)},
      {"repeat", m.o.repeat},
      {"ack_delay_ms", m.o.ack_delay_ms},
      {"ack_spread_ms", m.o.ack_spread()},
      {"loss_timeout_s", m.o.loss_timeout_s},
      {"portierd", m.o.portierd},
      {"mosquitto", mosquitto_version},
  };
}

json::object Run::fanout(std::size_t n) {
  auto& m = *impl_;
  json::object out{{"n", n}, {"repeat", m.o.repeat}};
  auto wants = [&](const char* t) {
    return std::find(m.o.targets.begin(), m.o.targets.end(), t) != m.o.targets.end();
  };
  std::size_t bytes = 0;
  if (wants("portier")) {
    auto p = m.server("fanout");
    auto w = m.seed_world(*p, {.members = n});
    out["seed"] = m.seed_json(w, n);
    out["connect_ms"] = m.connect("ws", p->port(), m.device_specs(w, n), "portier");
    Http h(kHost, p->port());
    std::vector<Shot> shots;
    for (int r = 0; r <= m.o.repeat; ++r) {
      shots.push_back(m.portier_shot(*p, h, w, &bytes));
      const auto& s = shots.back();
      m.log("portier " + std::string(r == 0 ? "warm-up" : "run " + std::to_string(r)) + ": write " +
            std::to_string(s.write_ms) + " ms, last " + std::to_string(s.lat.max) + " ms, lost " +
            std::to_string(s.lat.lost));
    }
    m.check_client("portier fanout");
    m.fleet->close();
    p->stop();
    out["portier"] = shots_json(shots, true);
  }
  if (m.o.bytes > 0) bytes = m.o.bytes;
  if (bytes == 0) bytes = 430;  // about a schedule rename's change frame
  out["bytes"] = bytes;

  if (wants("mosquitto")) {
    m.connect("mqtt", m.mosquitto->port(), m.plain_specs(n, true), "mosquitto");
    MqttPublisher pub(m.mosquitto->port());
    std::vector<Shot> shots;
    for (int r = 0; r <= m.o.repeat; ++r) {
      Shot s;
      m.quiesce(m.mosquitto->pid());
      auto t = ++m.tag;
      m.fleet->arm(t);
      auto cpu0 = sample_process(m.mosquitto->pid());
      auto client0 = m.fleet->stats();
      auto t0 = pub.publish("bench/fanout", tagged_payload(t, bytes));
      auto times = m.fleet->wait(m.loss_timeout());
      auto cpu1 = sample_process(m.mosquitto->pid());
      auto client1 = m.fleet->stats();
      s.lat = latencies(times.at, t0);
      s.server_cpu_ms = static_cast<double>(cpu1.cpu_us - cpu0.cpu_us) / 1e3;
      s.client_cpu_ms = static_cast<double>(client1.cpu_us - client0.cpu_us) / 1e3;
      shots.push_back(s);
    }
    m.check_client("mosquitto fanout");
    m.fleet->close();
    out["mosquitto"] = shots_json(shots, false);
    m.log("mosquitto: last " + std::to_string(out["mosquitto"].as_object()["last_ms"].as_double()) +
          " ms");
  }
  if (wants("floor")) {
    m.connect("floor", m.floor->port(), m.plain_specs(n, false), "floor");
    if (!m.floor->wait_count(n, 30s)) throw std::runtime_error("floor: not every socket accepted");
    std::vector<Shot> shots;
    json::array write_us;
    for (int r = 0; r <= m.o.repeat; ++r) {
      Shot s;
      m.quiesce(m.floor->pid());
      auto t = ++m.tag;
      m.fleet->arm(t);
      auto cpu0 = sample_process(m.floor->pid());
      auto client0 = m.fleet->stats();
      auto t0 = now_ns();
      write_us.push_back(m.floor->send(bytes, t));
      auto times = m.fleet->wait(m.loss_timeout());
      auto cpu1 = sample_process(m.floor->pid());
      auto client1 = m.fleet->stats();
      s.lat = latencies(times.at, t0);
      s.server_cpu_ms = static_cast<double>(cpu1.cpu_us - cpu0.cpu_us) / 1e3;
      s.client_cpu_ms = static_cast<double>(client1.cpu_us - client0.cpu_us) / 1e3;
      shots.push_back(s);
    }
    m.check_client("floor fanout");
    m.fleet->close();
    m.floor->close_all();
    out["floor"] = shots_json(shots, false);
    out["floor"].as_object()["write_us"] = std::move(write_us);
    m.log("floor: last " + std::to_string(out["floor"].as_object()["last_ms"].as_double()) + " ms");
  }
  json::object ratios;
  for (const char* peer : {"mosquitto", "floor"}) {
    if (!out.contains("portier") || !out.contains(peer)) continue;
    const auto& a = out["portier"].as_object();
    const auto& b = out[peer].as_object();
    ratios[peer] = json::object{{"last", ratio(a, b, "last_ms")},
                                {"p50", ratio(a, b, "p50_ms")},
                                {"p99", ratio(a, b, "p99_ms")}};
  }
  out["ratios"] = std::move(ratios);
  return out;
}

json::object Run::edits() {
  auto& m = *impl_;
  auto n = m.o.edits_n;
  auto count = static_cast<std::size_t>(std::llround(m.o.edits_rate * m.o.edits_seconds));
  json::object out{{"n", n}, {"rate", m.o.edits_rate}, {"edits", count}};
  auto p = m.server("edits");
  auto w = m.seed_world(*p, {.members = n});
  out["seed"] = m.seed_json(w, n);
  m.connect("ws", p->port(), m.device_specs(w, n), "portier");
  auto base = m.tag + 1;
  m.tag += static_cast<std::int64_t>(count);
  std::vector<HttpReply> replies(count);
  m.quiesce(p->pid());
  auto start = std::chrono::steady_clock::now() + 100ms;
  auto cpu0 = sample_process(p->pid());
  // Open loop: edit k is due at start + k/rate, whatever the answers before it took.
  parallel(count, 8, kHost, p->port(), [&](std::size_t k, Http& h) {
    std::this_thread::sleep_until(start + std::chrono::duration_cast<std::chrono::nanoseconds>(
                                              std::chrono::duration<double>(k / m.o.edits_rate)));
    const auto& user = w.members[k % n];
    replies[k] = h.json("PATCH", "/v1/users/" + user.id,
                        json::object{{"name", tag_text(base + static_cast<std::int64_t>(k))}},
                        w.owner_token);
  });
  // Gather deliveries until every edit arrived or the loss timeout passed.
  std::map<std::int64_t, std::pair<std::size_t, std::int64_t>> seen;  // tag -> (session, at)
  auto deadline = std::chrono::steady_clock::now() + m.loss_timeout();
  while (seen.size() < count && std::chrono::steady_clock::now() < deadline) {
    auto recs = m.fleet->records();
    for (std::size_t s = 0; s < recs.size(); ++s)
      for (const auto& [tag, at] : recs[s])
        if (tag >= base && tag < base + static_cast<std::int64_t>(count))
          seen.emplace(tag, std::pair{s, at});
    if (seen.size() < count) std::this_thread::sleep_for(50ms);
  }
  auto cpu1 = sample_process(p->pid());
  std::vector<double> lat, write;
  std::size_t lost = 0, failed = 0, misdelivered = 0;
  for (std::size_t k = 0; k < count; ++k) {
    const auto& r = replies[k];
    if (r.status != 200) {
      failed++;
      continue;
    }
    write.push_back(r.ms());
    auto it = seen.find(base + static_cast<std::int64_t>(k));
    if (it == seen.end()) {
      lost++;
    } else if (it->second.first != k % n) {
      misdelivered++;
    } else {
      lat.push_back(ms_between(r.sent_ns, it->second.second));
    }
  }
  m.check_client("edits");
  m.fleet->close();
  p->stop();
  auto first = replies.empty() ? 0 : replies.front().sent_ns;
  auto last = replies.empty() ? 0 : replies.back().sent_ns;
  out["achieved_rate"] =
      count > 1 ? static_cast<double>(count - 1) / (ms_between(first, last) / 1e3) : 0.0;
  out["delivery"] = to_json(summarize(lat, lost + failed + misdelivered));
  out["write"] = to_json(summarize(write, failed));
  out["failed_writes"] = failed;
  out["misdelivered"] = misdelivered;
  out["server_cpu_ms"] = static_cast<double>(cpu1.cpu_us - cpu0.cpu_us) / 1e3;
  return out;
}

json::object Run::open() {
  auto& m = *impl_;
  const auto& o = m.o;
  json::object out{{"units", o.open_units},       {"apps", o.open_apps},
                   {"rate", o.open_rate},         {"seconds", o.open_seconds},
                   {"during_n", o.open_during_n}, {"during_edits", o.open_edits}};
  auto p = m.server("open");
  auto w =
      m.seed_world(*p, {.members = o.open_during_n, .apps = o.open_apps, .units = o.open_units});
  out["seed"] = m.seed_json(w, o.open_during_n + o.open_apps);
  // Units and apps all on worker 0, where the open driver runs.
  {
    auto src = m.sources(o.open_units + o.open_apps);
    std::vector<json::object> specs;
    for (std::size_t i = 0; i < w.units.size(); ++i)
      specs.push_back({{"role", "unit"},
                       {"token", w.units[i].token},
                       {"feed", "unit/" + w.units[i].id},
                       {"device", "bench-unit-" + std::to_string(i)},
                       {"src", src[i]}});
    for (std::size_t i = 0; i < w.apps.size(); ++i)
      specs.push_back({{"role", "app"},
                       {"token", w.apps[i].token},
                       {"feed", "user/" + w.apps[i].id},
                       {"device", "bench-app-" + std::to_string(i)},
                       {"src", src[w.units.size() + i]}});
    m.connect("ws", p->port(), std::move(specs), "units and apps", 0);
  }
  // Opens sent inside any of the [from, to] windows.
  using Window = std::pair<std::int64_t, std::int64_t>;
  auto summarize_opens = [](const std::vector<std::array<std::int64_t, 3>>& items,
                            const std::vector<Window>& windows) {
    std::vector<double> v;
    std::size_t lost = 0;
    json::object statuses;
    for (const auto& [sent, answered, status] : items) {
      auto at = sent;  // clang-tidy 14 cannot capture a structured binding (C++20 can)
      if (std::none_of(windows.begin(), windows.end(),
                       [at](const Window& w) { return at >= w.first && at <= w.second; }))
        continue;
      auto key = std::to_string(status);
      statuses[key] = (statuses.contains(key) ? statuses[key].to_number<std::int64_t>() : 0) + 1;
      if (status == 200 && answered >= 0)
        v.push_back(ms_between(sent, answered));
      else
        lost++;
    }
    auto j = to_json(summarize(v, lost));
    j["statuses"] = std::move(statuses);  // -1: app not connected, 0: never answered
    return j;
  };
  const std::vector<Window> all{{0, std::numeric_limits<std::int64_t>::max()}};
  m.quiesce(p->pid());
  m.fleet->open_start(o.open_rate, w.open_doors);
  sleep_s(o.open_seconds);
  out["alone"] = summarize_opens(m.fleet->open_stop(15s), all);
  m.log("opens alone: p99 " + std::to_string(out["alone"].as_object()["p99_ms"].as_double()) +
        " ms");

  // The same opens while schedule edits fan out to `during_n` sessions, held by the other
  // workers when they can: the apps' io thread then reads no fan-out frames, and an open's
  // time is the server's, not the bench's queue. One fan-out lasts ~0.1-0.2 s, ~50-100 opens
  // at 500/s: several edits, a second apart (the feed rows of one are written before the
  // next), give the p99 enough samples to mean something.
  bool own =
      m.workers > 1 && static_cast<std::size_t>(m.workers - 1) * m.per_worker >= o.open_during_n;
  out["apps_own_worker"] = own;
  m.connect("ws", p->port(), m.device_specs(w, o.open_during_n), "portier", -1, own ? 1 : 0);
  Http h(kHost, p->port());
  m.quiesce(p->pid());
  m.fleet->open_start(o.open_rate, w.open_doors);
  std::vector<Shot> shots;
  for (int e = 0; e < o.open_edits; ++e) {
    sleep_s(e == 0 ? std::min(1.0, o.open_seconds) : 1.0);
    shots.push_back(m.portier_shot(*p, h, w, nullptr, false));
  }
  sleep_s(0.5);
  auto items = m.fleet->open_stop(15s);
  m.check_client("open");
  m.fleet->close();
  p->stop();
  std::vector<Window> windows, after;  // after: the second after each rename's last delivery
  json::array per_edit;
  std::vector<double> write, last;
  std::size_t lost = 0;
  for (const auto& s : shots) {
    windows.emplace_back(s.sent_ns, s.end_ns);
    after.emplace_back(s.end_ns + 1, s.end_ns + 1'000'000'000);
    auto one = summarize_opens(items, {{s.sent_ns, s.end_ns}});
    per_edit.push_back(json::object{
        {"opens", one["count"].to_number<std::int64_t>() + one["lost"].to_number<std::int64_t>()},
        {"p99_ms", one["p99_ms"]},
        {"max_ms", one["max_ms"]},
        {"write_ms", s.write_ms},
        {"last_ms", s.lat.max}});
    write.push_back(s.write_ms);
    last.push_back(s.lat.max);
    lost += s.lat.lost;
  }
  out["during"] = summarize_opens(items, windows);
  out["during_edits"] = std::move(per_edit);
  out["after"] = summarize_opens(items, after);  // its feed rows are written, the acks come
  out["during_all"] = summarize_opens(items, all);
  out["fanout"] = json::object{{"edits", shots.size()},
                               {"write_ms", median(write)},
                               {"last_ms", median(last)},
                               {"last_max_ms", *std::max_element(last.begin(), last.end())},
                               {"lost", lost}};
  m.log("opens during the fan-outs: p99 " +
        std::to_string(out["during"].as_object()["p99_ms"].as_double()) + " ms");
  return out;
}

json::object Run::idle(std::size_t n) {
  auto& m = *impl_;
  json::object out{{"n", n}, {"seconds", m.o.idle_seconds}};
  auto measure = [&](pid_t pid, const std::function<void()>& connect) {
    auto before = sample_process(pid);
    auto client0 = m.fleet->stats();
    connect();
    sleep_s(m.o.settle_seconds);
    auto after = sample_process(pid);
    auto client1 = m.fleet->stats();
    sleep_s(m.o.idle_seconds);
    auto end = sample_process(pid);
    auto window_us = m.o.idle_seconds * 1e6;
    auto cpu = static_cast<double>(end.cpu_us - after.cpu_us);
    json::object j{
        {"rss_before_kb", before.rss_kb},
        {"rss_after_kb", after.rss_kb},
        {"rss_end_kb", end.rss_kb},
        {"kib_per_session", static_cast<double>(after.rss_kb - before.rss_kb) / n},
        // RSS splits into the heap (what sessions cost) and mapped files (a database read
        // through mmap while serving snapshots: shared with the page cache, evictable).
        {"anon_kib_per_session", static_cast<double>(after.anon_kb - before.anon_kb) / n},
        {"file_kib_per_session", static_cast<double>(after.file_kb - before.file_kb) / n},
        {"cpu_pct", cpu / window_us * 100},
        {"cpu_us_per_session_s", cpu / window_us * 1e6 / n},
        // The workers keep freed memory for later phases: meaningful on fresh workers only.
        {"client_kib_per_session", static_cast<double>(client1.rss_kb - client0.rss_kb) / n}};
    m.check_client("idle");
    m.fleet->close();
    return j;
  };
  {
    auto p = m.server("idle");
    auto w = m.seed_world(*p, {.members = n});
    out["seed"] = m.seed_json(w, n);
    out["portier"] =
        measure(p->pid(), [&] { m.connect("ws", p->port(), m.device_specs(w, n), "portier"); });
    p->stop();
  }
  // A fresh Mosquitto, so its "before" holds no earlier clients.
  m.mosquitto->stop();
  m.mosquitto->start();
  out["mosquitto"] = measure(m.mosquitto->pid(), [&] {
    m.connect("mqtt", m.mosquitto->port(), m.plain_specs(n, true), "mosquitto");
  });
  m.log(
      "idle: portier " + std::to_string(out["portier"].as_object()["kib_per_session"].as_double()) +
      " KiB/session, mosquitto " +
      std::to_string(out["mosquitto"].as_object()["kib_per_session"].as_double()) + " KiB/session");
  return out;
}

json::object Run::storm() {
  auto& m = *impl_;
  auto n = m.o.storm_n;
  json::object out{{"n", n}, {"backoff_ms", m.o.backoff_ms}};
  auto p = m.server("storm");
  auto w = m.seed_world(*p, {.members = n});
  out["seed"] = m.seed_json(w, n);
  m.connect("ws", p->port(), m.device_specs(w, n), "portier");
  for (bool warm : {true, false}) {
    m.fleet->mode(warm, m.o.backoff_ms, m.o.ack_delay_ms, m.o.ack_spread());
    m.fleet->stats(true);
    auto t = ++m.tag;
    m.fleet->arm(t);
    auto port = p->port();
    auto t_term = now_ns();
    int rc = p->stop();
    auto t_exit = now_ns();
    p->start(port);
    auto t_listen = now_ns();
    Http h(kHost, port);
    auto r = h.json("PATCH", "/v1/schedules/" + w.schedule_id, json::object{{"name", tag_text(t)}},
                    w.owner_token);
    if (r.status != 200)
      throw std::runtime_error("storm: PATCH schedule: " + std::to_string(r.status));
    auto times = m.fleet->wait(m.loss_timeout());
    auto cpu = sample_process(p->pid());
    auto st = m.fleet->stats(true);
    auto lat = latencies(times.at, t_listen);
    // Back on its feed (resumed, or a snapshot) since the restart, edit or no edit.
    std::vector<std::int64_t> resync;
    for (auto at : times.synced) resync.push_back(at >= t_exit ? at : -1);
    auto back = latencies(resync, t_listen);
    json::object j = to_json(lat);
    j["resynced"] = to_json(back);
    j["to_all_ms"] = lat.max;
    j["stop_ms"] = ms_between(t_term, t_exit);
    j["stop_exit"] = rc;
    j["start_ms"] = ms_between(t_exit, t_listen);
    j["write_ms"] = r.ms();
    j["server_cpu_ms"] = static_cast<double>(cpu.cpu_us) / 1e3;
    j["resumed"] = st.resumed;
    j["snapshots"] = st.snapshots;
    j["reconnects"] = st.reconnects;
    j["closes"] = st.closes;
    j["failures"] = st.failures;
    if (st.gaps > 0 || st.errors > 0)
      throw std::runtime_error("storm: " + std::to_string(st.gaps) + " seq gaps, " +
                               std::to_string(st.errors) + " errors (first: " + st.error + ")");
    m.log(std::string("storm ") + (warm ? "warm" : "cold") + ": all " + std::to_string(n) +
          " back on their feed " + std::to_string(back.max) + " ms and hold the edit " +
          std::to_string(lat.max) + " ms after listening (its write took " +
          std::to_string(r.ms()) + " ms); lost " + std::to_string(lat.lost));
    out[warm ? "warm" : "cold"] = std::move(j);
  }
  m.fleet->mode(true, m.o.backoff_ms, m.o.ack_delay_ms, m.o.ack_spread());
  m.fleet->close();
  p->stop();
  return out;
}

}  // namespace portier::bench
