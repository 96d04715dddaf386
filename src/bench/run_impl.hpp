#pragma once
// What the scenarios share (internal to the bench): Run's state and the helpers every scenario
// uses. Each scenario is in its own file: scenarios.cpp (the run itself), fanout_scenario.cpp
// (fanout, edits), open_scenario.cpp, idle_storm_scenario.cpp.

#include "bench/scenarios.hpp"

#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cmath>
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

inline constexpr const char* kHost = "127.0.0.1";

inline double ms_between(std::int64_t from, std::int64_t to) {
  return static_cast<double>(to - from) / 1e6;
}

// Receipt times relative to t0, in ms; sessions that never got it are lost.
inline Summary latencies(const std::vector<std::int64_t>& at, std::int64_t t0) {
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

inline void sleep_s(double s) { std::this_thread::sleep_for(std::chrono::duration<double>(s)); }

// One fanout measurement: the figures of one edit (or publish) reaching every session.
struct Shot {
  Summary lat;
  double write_ms = 0;       // the request's response time (portier only)
  double server_cpu_ms = 0;  // CPU the server used from the send until all had it
  double client_cpu_ms = 0;  // CPU the bench workers used meanwhile
  std::int64_t sent_ns = 0;  // the request's send
  std::int64_t end_ns = 0;   // the response or the last receipt, whichever came later
};

inline json::object shots_json(const std::vector<Shot>& shots, bool with_write) {
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

inline double ratio(const json::object& a, const json::object& b, const char* key) {
  double d = b.at(key).as_double();
  return d > 0 ? a.at(key).as_double() / d : 0;
}

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

  // One send to a peer (Mosquitto, the floor) once it is quiet, and the fleet's receipts:
  // `send(tag)` sends the tagged payload and returns when it did (ns).
  Shot peer_shot(pid_t pid, const std::function<std::int64_t(std::int64_t)>& send) {
    Shot s;
    quiesce(pid);
    auto t = ++tag;
    fleet->arm(t);
    auto cpu0 = sample_process(pid);
    auto client0 = fleet->stats();
    auto t0 = send(t);
    auto times = fleet->wait(loss_timeout());
    auto cpu1 = sample_process(pid);
    auto client1 = fleet->stats();
    s.lat = latencies(times.at, t0);
    s.server_cpu_ms = static_cast<double>(cpu1.cpu_us - cpu0.cpu_us) / 1e3;
    s.client_cpu_ms = static_cast<double>(client1.cpu_us - client0.cpu_us) / 1e3;
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

}  // namespace portier::bench
