#include "bench/worker.hpp"

#include <unistd.h>

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/json.hpp>
#include <future>
#include <iostream>
#include <map>
#include <thread>

#include "bench/proc.hpp"
#include "bench/wire.hpp"

namespace portier::bench {
namespace net = boost::asio;
namespace json = boost::json;
using tcp = net::ip::tcp;
using namespace std::chrono_literals;

struct Worker::Impl {
  // One open of the open scenario: when it was sent and answered, and how. (Nested, not in an
  // anonymous namespace: the unity build puts this file after others, and GCC then rejects a
  // member of internal-linkage type.)
  struct OpenRec {
    std::int64_t sent = -1, answered = -1;
    int status = 0;
  };

  explicit Impl(Worker& w, int threads) : w(w) {
    for (int i = 0; i < threads; ++i) {
      ctxs.push_back(std::make_unique<net::io_context>(1));
      guards.emplace_back(ctxs.back()->get_executor());
    }
    owned.resize(ctxs.size());
    open_timer = std::make_unique<net::steady_timer>(*ctxs[0]);
    for (auto& c : ctxs) io.emplace_back([ctx = c.get()] { ctx->run(); });
  }
  ~Impl() {
    guards.clear();
    for (auto& c : ctxs) c->stop();
    for (auto& t : io) t.join();
  }

  // Runs fn(i) on every io thread i and waits for all.
  template <class Fn>
  void on_each_ctx(Fn fn) {
    std::vector<std::future<void>> done;
    for (std::size_t i = 0; i < ctxs.size(); ++i) {
      auto p = std::make_shared<std::promise<void>>();
      done.push_back(p->get_future());
      net::post(*ctxs[i], [p, fn, i] {
        fn(i);
        p->set_value();
      });
    }
    for (auto& f : done) f.wait();
  }

  void reply(const json::object& o) {
    std::string line = json::serialize(o);
    line.push_back('\n');
    std::cout << line << std::flush;
  }

  void connect(const json::object& cmd);
  void wait(const json::object& cmd);
  void records();
  void stats(const json::object& cmd);
  void close();
  void open_start(const json::object& cmd);
  void open_stop(const json::object& cmd);
  void open_tick();

  Worker& w;
  std::vector<std::unique_ptr<net::io_context>> ctxs;
  std::vector<net::executor_work_guard<net::io_context::executor_type>> guards;
  std::vector<std::thread> io;
  std::vector<std::vector<std::unique_ptr<Session>>> owned;  // per io thread
  std::vector<Session*> counted;
  std::size_t round_robin = 0;

  std::mutex mu;
  std::condition_variable cv;
  std::size_t pending_initial = 0, ok = 0, failed = 0, next_start = 0;
  std::vector<Session*> to_start;
  std::string first_error;

  std::atomic<std::int64_t> armed{-1};
  std::atomic<std::size_t> armed_count{0};
  std::size_t expected = 0;

  std::mutex counters_mu;
  std::map<int, std::int64_t> closes;
  std::map<std::string, std::int64_t> failures;  // transport failures by what failed
  std::int64_t errors = 0;
  std::string error_text;

  // Opens: apps and this state live on io thread 0.
  std::unique_ptr<net::steady_timer> open_timer;
  std::vector<OpenRec> opens;
  std::vector<Session*> apps;
  std::vector<std::string> doors;
  double rate = 0;
  bool open_running = false;
  std::chrono::steady_clock::time_point open_begin;
  std::atomic<std::int64_t> opens_sent{0}, opens_answered{0};
};

Worker::Worker(int threads) : impl_(std::make_unique<Impl>(*this, std::max(1, threads))) {}
Worker::~Worker() = default;

void Worker::initial_done(bool ok, const std::string& error) {
  auto& m = *impl_;
  Session* next = nullptr;
  {
    std::lock_guard lock(m.mu);
    (ok ? m.ok : m.failed)++;
    if (!ok && m.first_error.empty()) m.first_error = error;
    if (m.pending_initial > 0) m.pending_initial--;
    if (m.next_start < m.to_start.size()) next = m.to_start[m.next_start++];
  }
  if (next) net::post(next->ioc(), [next] { next->start(); });
  m.cv.notify_all();
}

void Worker::tag_seen(std::int64_t tag) {
  auto& m = *impl_;
  if (tag != m.armed.load()) return;
  if (m.armed_count.fetch_add(1) + 1 >= m.expected) {
    { std::lock_guard lock(m.mu); }
    m.cv.notify_all();
  }
}

void Worker::count_close(int code, const std::string& why) {
  std::lock_guard lock(impl_->counters_mu);
  impl_->closes[code]++;
  if (code == 0) impl_->failures[why]++;
}

void Worker::count_error(std::string_view text) {
  std::lock_guard lock(impl_->counters_mu);
  if (impl_->errors++ == 0) impl_->error_text = std::string(text.substr(0, 300));
}

void Worker::open_answered(std::int64_t k, std::int64_t t, int status) {
  auto& m = *impl_;
  if (k < 0 || static_cast<std::size_t>(k) >= m.opens.size() || m.opens[k].answered >= 0) return;
  m.opens[k].answered = t;
  m.opens[k].status = status;
  m.opens_answered++;
}

void Worker::Impl::connect(const json::object& cmd) {
  auto kind = std::string(cmd.at("kind").as_string());
  auto server = tcp::endpoint(net::ip::make_address_v4(std::string(cmd.at("host").as_string())),
                              static_cast<unsigned short>(cmd.at("port").to_number<int>()));
  auto concurrency = static_cast<std::size_t>(cmd.at("concurrency").to_number<int>());
  auto timeout = std::chrono::milliseconds(cmd.at("timeout_ms").to_number<std::int64_t>());
  std::vector<Session*> batch;
  for (const auto& v : cmd.at("sessions").as_array()) {
    const auto& o = v.as_object();
    auto str = [&](const char* k) {
      const auto* x = o.if_contains(k);
      return x && x->is_string() ? std::string(x->as_string()) : std::string();
    };
    Spec s;
    s.kind = kind;
    auto role = str("role");
    s.role = role == "unit" ? Role::unit : role == "app" ? Role::app : Role::device;
    s.token = str("token");
    s.feed = str("feed");
    s.device = str("device");
    s.topic = str("topic");
    s.client_id = str("client_id");
    s.src = net::ip::make_address_v4(str("src"));
    s.server = server;
    // Apps live on io thread 0 with the open driver; the rest are spread.
    std::size_t ctx = s.role == Role::app ? 0 : round_robin++ % ctxs.size();
    auto session = make_session(w, *ctxs[ctx], std::move(s));
    if (session->counted()) {
      session->counted_index = counted.size();
      counted.push_back(session.get());
    }
    if (session->role() == Role::app) apps.push_back(session.get());
    batch.push_back(session.get());
    owned[ctx].push_back(std::move(session));
  }
  auto begin = now_ns();
  std::vector<Session*> first;
  {
    std::lock_guard lock(mu);
    ok = failed = 0;
    first_error.clear();
    to_start = batch;
    pending_initial = batch.size();
    next_start = std::min(concurrency, batch.size());
    first.assign(batch.begin(), batch.begin() + static_cast<std::ptrdiff_t>(next_start));
  }
  for (auto* s : first) net::post(s->ioc(), [s] { s->start(); });
  std::unique_lock lock(mu);
  cv.wait_for(lock, timeout, [&] { return pending_initial == 0; });
  reply({{"op", "connected"},
         {"ok", ok},
         {"failed", failed},
         {"pending", pending_initial},
         {"error", first_error},
         {"ms", static_cast<double>(now_ns() - begin) / 1e6}});
}

void Worker::Impl::wait(const json::object& cmd) {
  auto timeout = std::chrono::milliseconds(cmd.at("timeout_ms").to_number<std::int64_t>());
  {
    std::unique_lock lock(mu);
    cv.wait_for(lock, timeout, [&] { return armed_count.load() >= expected; });
  }
  std::vector<std::int64_t> times(counted.size(), -1), synced(counted.size(), -1);
  std::atomic<std::size_t> bytes{0};
  auto tag = armed.load();
  on_each_ctx([&](std::size_t i) {
    for (const auto& s : owned[i]) {
      if (!s->counted()) continue;
      synced[s->counted_index] = s->synced_at;
      for (const auto& [t, at] : s->records)
        if (t == tag) {
          times[s->counted_index] = at;
          bytes = s->armed_bytes;
        }
    }
  });
  json::array arr, sync;
  for (auto t : times) arr.emplace_back(t);
  for (auto t : synced) sync.emplace_back(t);
  reply({{"op", "times"},
         {"tag", tag},
         {"times", std::move(arr)},
         {"synced", std::move(sync)},
         {"bytes", bytes.load()}});
}

void Worker::Impl::records() {
  std::vector<json::array> per(counted.size());
  on_each_ctx([&](std::size_t i) {
    for (const auto& s : owned[i]) {
      if (!s->counted()) continue;
      auto& a = per[s->counted_index];
      for (const auto& [tag, at] : s->records) {
        a.emplace_back(tag);
        a.emplace_back(at);
      }
      s->records.clear();
      s->armed_bytes = 0;
    }
  });
  json::array recs;
  for (auto& a : per) recs.emplace_back(std::move(a));
  reply({{"op", "records"}, {"recs", std::move(recs)}});
}

void Worker::Impl::stats(const json::object& cmd) {
  auto me = sample_process(getpid());
  std::size_t n = 0;
  for (const auto& o : owned) n += o.size();
  json::object closes_o, failures_o;
  std::lock_guard lock(counters_mu);
  for (const auto& [code, count] : closes) closes_o[std::to_string(code)] = count;
  for (const auto& [why, count] : failures) failures_o[why] = count;
  reply({{"op", "stats"},
         {"cpu_us", me.cpu_us},
         {"rss_kb", me.rss_kb},
         {"sessions", n},
         {"reconnects", w.reconnects_.load()},
         {"resumed", w.resumed_.load()},
         {"snapshots", w.snapshots_.load()},
         {"gaps", w.gaps_.load()},
         {"errors", errors},
         {"error", error_text},
         {"closes", std::move(closes_o)},
         {"failures", std::move(failures_o)}});
  if (const auto* r = cmd.if_contains("reset"); r && r->is_bool() && r->as_bool()) {
    closes.clear();
    failures.clear();
    errors = 0;
    error_text.clear();
    w.reconnects_ = w.resumed_ = w.snapshots_ = w.gaps_ = 0;
  }
}

void Worker::Impl::close() {
  on_each_ctx([&](std::size_t i) {
    for (auto& s : owned[i]) s->shutdown();
  });
  auto drained = [&](std::chrono::milliseconds limit) {
    auto deadline = std::chrono::steady_clock::now() + limit;
    while (w.live_ops.load() > 0 && std::chrono::steady_clock::now() < deadline)
      std::this_thread::sleep_for(5ms);
    return w.live_ops.load() == 0;
  };
  bool forced = false;
  if (!drained(10s)) {
    forced = true;
    on_each_ctx([&](std::size_t i) {
      for (auto& s : owned[i]) s->abort();
    });
    drained(5s);
  }
  bool clean = w.live_ops.load() == 0;
  // Sessions die on their own io thread, once nothing refers to them (else they are kept).
  on_each_ctx([&](std::size_t i) {
    if (clean) owned[i].clear();
  });
  if (clean) {
    counted.clear();
    apps.clear();
  }
  reply({{"op", "closed"}, {"forced", forced}, {"clean", clean}});
}

void Worker::Impl::open_tick() {
  if (!open_running) return;
  auto now = std::chrono::steady_clock::now();
  auto elapsed = std::chrono::duration<double>(now - open_begin).count();
  auto due = static_cast<std::int64_t>(elapsed * rate) + 1;
  for (auto k = static_cast<std::int64_t>(opens.size()); k < due; ++k) {
    opens.push_back({now_ns(), -1, 0});
    opens_sent++;
    apps[static_cast<std::size_t>(k) % apps.size()]->send_open(
        k, doors[static_cast<std::size_t>(k) % doors.size()]);
  }
  auto next = open_begin + std::chrono::duration_cast<std::chrono::steady_clock::duration>(
                               std::chrono::duration<double>(static_cast<double>(due) / rate));
  open_timer->expires_at(next);
  open_timer->async_wait([this](boost::system::error_code ec) {
    if (!ec) open_tick();
  });
}

void Worker::Impl::open_start(const json::object& cmd) {
  std::vector<std::string> d;
  for (const auto& v : cmd.at("doors").as_array()) d.emplace_back(v.as_string());
  double r = cmd.at("rate").to_number<double>();
  on_each_ctx([&](std::size_t i) {
    if (i != 0) return;
    doors = d;
    rate = r;
    opens.clear();
    opens_sent = opens_answered = 0;
    open_running = !apps.empty() && !doors.empty() && rate > 0;
    open_begin = std::chrono::steady_clock::now();
    open_tick();
  });
  reply({{"op", "open_started"}, {"apps", apps.size()}});
}

void Worker::Impl::open_stop(const json::object& cmd) {
  auto timeout = std::chrono::milliseconds(cmd.at("timeout_ms").to_number<std::int64_t>());
  on_each_ctx([&](std::size_t i) {
    if (i != 0) return;
    open_running = false;
    open_timer->cancel();
  });
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (opens_answered.load() < opens_sent.load() && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(5ms);
  json::array items;
  on_each_ctx([&](std::size_t i) {
    if (i != 0) return;
    for (const auto& o : opens) items.emplace_back(json::array{o.sent, o.answered, o.status});
  });
  reply({{"op", "opens"}, {"items", std::move(items)}});
}

int Worker::run() {
  auto& m = *impl_;
  std::ios::sync_with_stdio(false);
  for (std::string line; std::getline(std::cin, line);) {
    boost::system::error_code ec;
    auto v = json::parse(line, ec);
    if (ec || !v.is_object() || !v.as_object().contains("op")) {
      m.reply({{"op", "error"}, {"error", "bad command: " + line.substr(0, 100)}});
      continue;
    }
    const auto& cmd = v.as_object();
    auto op = std::string(cmd.at("op").as_string());
    try {
      if (op == "connect") {
        m.connect(cmd);
      } else if (op == "arm") {
        m.armed = cmd.at("tag").to_number<std::int64_t>();
        m.armed_count = 0;
        m.expected = m.counted.size();
        m.reply({{"op", "armed"}, {"expected", m.expected}});
      } else if (op == "wait") {
        m.wait(cmd);
      } else if (op == "records") {
        m.records();
      } else if (op == "stats") {
        m.stats(cmd);
      } else if (op == "mode") {
        resume_ = cmd.at("resume").as_bool();
        if (const auto* b = cmd.if_contains("backoff_ms")) backoff_ms_ = b->to_number<int>();
        if (const auto* a = cmd.if_contains("ack_delay_ms")) ack_delay_ms_ = a->to_number<int>();
        if (const auto* a = cmd.if_contains("ack_spread_ms")) ack_spread_ms_ = a->to_number<int>();
        m.reply({{"op", "mode"}});
      } else if (op == "close") {
        m.close();
      } else if (op == "open_start") {
        m.open_start(cmd);
      } else if (op == "open_stop") {
        m.open_stop(cmd);
      } else if (op == "quit") {
        break;
      } else {
        m.reply({{"op", "error"}, {"error", "unknown op " + op}});
      }
    } catch (const std::exception& e) {
      m.reply({{"op", "error"}, {"error", op + ": " + e.what()}});
    }
  }
  m.on_each_ctx([&](std::size_t i) {
    for (auto& s : m.owned[i]) s->abort();
  });
  return 0;
}

int worker_main(int threads) {
  // Never destroyed: pending handlers refer to sessions, so the process just ends.
  auto* w = new Worker(threads);
  int rc = w->run();
  std::cout.flush();
  _exit(rc);
}

}  // namespace portier::bench
