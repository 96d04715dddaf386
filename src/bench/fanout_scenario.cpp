#include "bench/run_impl.hpp"

namespace portier::bench {

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
    for (int r = 0; r <= m.o.repeat; ++r)
      shots.push_back(m.peer_shot(m.mosquitto->pid(), [&](std::int64_t t) {
        return pub.publish("bench/fanout", tagged_payload(t, bytes));
      }));
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
    for (int r = 0; r <= m.o.repeat; ++r)
      shots.push_back(m.peer_shot(m.floor->pid(), [&](std::int64_t t) {
        auto t0 = now_ns();
        write_us.push_back(m.floor->send(bytes, t));
        return t0;
      }));
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

}  // namespace portier::bench
