#include "bench/run_impl.hpp"

namespace portier::bench {

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

}  // namespace portier::bench
