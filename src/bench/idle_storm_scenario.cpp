#include "bench/run_impl.hpp"

namespace portier::bench {

json::object Run::idle(std::size_t n) {
  auto& m = *impl_;
  json::object out{{"n", n}, {"seconds", m.o.idle_seconds}};
  // `trim_wait`: portierd looks at its size every 2 s and gives back what the seeding freed
  // once it stopped growing (MemoryTrim: within two looks); a heap full of freed memory would
  // hide what sessions cost.
  auto measure = [&](pid_t pid, double trim_wait, const std::function<void()>& connect) {
    m.quiesce(pid);
    sleep_s(trim_wait);
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
    out["portier"] = measure(p->pid(), 4.5,
                             [&] { m.connect("ws", p->port(), m.device_specs(w, n), "portier"); });
    p->stop();
  }
  // A fresh Mosquitto, so its "before" holds no earlier clients.
  m.mosquitto->stop();
  m.mosquitto->start();
  out["mosquitto"] = measure(m.mosquitto->pid(), 0, [&] {
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
