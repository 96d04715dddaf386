#include "bench/fleet.hpp"

#include <stdexcept>

namespace portier::bench {
namespace json = boost::json;
using namespace std::chrono_literals;

Fleet::Fleet(const std::string& exe, int workers, int threads) {
  for (int i = 0; i < workers; ++i)
    workers_.push_back(std::make_unique<Child>(
        std::vector<std::string>{exe, "worker", "--threads", std::to_string(threads)},
        Child::Options{.pipe_stdin = true, .pipe_stdout = true}));
}

Fleet::~Fleet() {
  for (auto& w : workers_)
    w->write(R"({"op":"quit"})"
             "\n");
  for (auto& w : workers_) w->stop(5s);
}

void Fleet::send(std::size_t w, const json::object& cmd) {
  if (!workers_[w]->write(json::serialize(cmd) + "\n"))
    throw std::runtime_error("worker " + std::to_string(w) + " is gone");
}

json::object Fleet::answer(std::size_t w, std::chrono::milliseconds timeout) {
  auto line = workers_[w]->read_line(timeout);
  if (!line) throw std::runtime_error("worker " + std::to_string(w) + " did not answer");
  auto v = json::parse(*line);
  auto& o = v.as_object();
  if (o.at("op") == "error")
    throw std::runtime_error("worker " + std::to_string(w) + ": " +
                             std::string(o.at("error").as_string()));
  return std::move(o);
}

json::object Fleet::ask(std::size_t w, const json::object& cmd, std::chrono::milliseconds timeout) {
  send(w, cmd);
  return answer(w, timeout);
}

std::vector<json::object> Fleet::all(const json::object& cmd, std::chrono::milliseconds timeout) {
  for (std::size_t w = 0; w < workers_.size(); ++w) send(w, cmd);
  std::vector<json::object> out;
  for (std::size_t w = 0; w < workers_.size(); ++w) out.push_back(answer(w, timeout));
  return out;
}

ConnectResult Fleet::connect(const std::string& kind, const std::string& host, unsigned short port,
                             std::vector<json::object> sessions, std::chrono::milliseconds timeout,
                             int only_worker, int first_worker, int concurrency) {
  std::size_t first = static_cast<std::size_t>(only_worker >= 0 ? only_worker : first_worker);
  std::size_t count = only_worker >= 0 ? 1 : workers_.size() - first;
  std::size_t per = (sessions.size() + count - 1) / count;
  for (std::size_t i = 0; i < count; ++i) {
    json::array chunk;
    for (std::size_t j = i * per; j < std::min(sessions.size(), (i + 1) * per); ++j)
      chunk.push_back(std::move(sessions[j]));
    send(first + i, {{"op", "connect"},
                     {"kind", kind},
                     {"host", host},
                     {"port", port},
                     {"concurrency", concurrency},
                     {"timeout_ms", timeout.count()},
                     {"sessions", std::move(chunk)}});
  }
  ConnectResult r;
  for (std::size_t i = 0; i < count; ++i) {
    auto a = answer(first + i, timeout + 30s);
    r.ok += a.at("ok").to_number<std::size_t>();
    r.failed += a.at("failed").to_number<std::size_t>();
    r.pending += a.at("pending").to_number<std::size_t>();
    if (r.error.empty()) r.error = a.at("error").as_string();
    r.ms = std::max(r.ms, a.at("ms").to_number<double>());
  }
  return r;
}

void Fleet::arm(std::int64_t tag) { all({{"op", "arm"}, {"tag", tag}}, 30s); }

Fleet::Times Fleet::wait(std::chrono::milliseconds timeout) {
  Times t;
  for (auto& a : all({{"op", "wait"}, {"timeout_ms", timeout.count()}}, timeout + 60s)) {
    for (const auto& v : a.at("times").as_array()) t.at.push_back(v.to_number<std::int64_t>());
    for (const auto& v : a.at("synced").as_array()) t.synced.push_back(v.to_number<std::int64_t>());
    t.bytes = std::max(t.bytes, a.at("bytes").to_number<std::size_t>());
  }
  return t;
}

std::vector<std::vector<std::pair<std::int64_t, std::int64_t>>> Fleet::records() {
  std::vector<std::vector<std::pair<std::int64_t, std::int64_t>>> out;
  for (auto& a : all({{"op", "records"}}, 60s))
    for (const auto& s : a.at("recs").as_array()) {
      auto& v = out.emplace_back();
      const auto& arr = s.as_array();
      for (std::size_t i = 0; i + 1 < arr.size(); i += 2)
        v.emplace_back(arr[i].to_number<std::int64_t>(), arr[i + 1].to_number<std::int64_t>());
    }
  return out;
}

WorkerTotals Fleet::stats(bool reset) {
  WorkerTotals t;
  for (auto& a : all({{"op", "stats"}, {"reset", reset}}, 30s)) {
    auto n = [&](const char* k) { return a.at(k).to_number<std::int64_t>(); };
    t.cpu_us += n("cpu_us");
    t.rss_kb += n("rss_kb");
    t.reconnects += n("reconnects");
    t.resumed += n("resumed");
    t.snapshots += n("snapshots");
    t.gaps += n("gaps");
    t.errors += n("errors");
    if (t.error.empty()) t.error = a.at("error").as_string();
    auto add = [](json::object& into, const json::object& from) {
      for (const auto& [k, count] : from) {
        auto prev = into.contains(k) ? into.at(k).to_number<std::int64_t>() : 0;
        into[k] = prev + count.to_number<std::int64_t>();
      }
    };
    add(t.closes, a.at("closes").as_object());
    add(t.failures, a.at("failures").as_object());
  }
  return t;
}

void Fleet::mode(bool resume, int backoff_ms, int ack_delay_ms, int ack_spread_ms) {
  all({{"op", "mode"},
       {"resume", resume},
       {"backoff_ms", backoff_ms},
       {"ack_delay_ms", ack_delay_ms},
       {"ack_spread_ms", ack_spread_ms}},
      30s);
}

void Fleet::close() { all({{"op", "close"}}, 60s); }

void Fleet::open_start(double rate, const std::vector<std::string>& doors, int worker) {
  json::array d;
  for (const auto& x : doors) d.emplace_back(x);
  ask(static_cast<std::size_t>(worker), {{"op", "open_start"}, {"rate", rate}, {"doors", d}}, 30s);
}

std::vector<std::array<std::int64_t, 3>> Fleet::open_stop(std::chrono::milliseconds timeout,
                                                          int worker) {
  auto a = ask(static_cast<std::size_t>(worker),
               {{"op", "open_stop"}, {"timeout_ms", timeout.count()}}, timeout + 30s);
  std::vector<std::array<std::int64_t, 3>> out;
  for (const auto& v : a.at("items").as_array()) {
    const auto& i = v.as_array();
    out.push_back({i[0].to_number<std::int64_t>(), i[1].to_number<std::int64_t>(),
                   i[2].to_number<std::int64_t>()});
  }
  return out;
}

}  // namespace portier::bench
