#include "bench/run_impl.hpp"

#include <sys/resource.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <fstream>

namespace portier::bench {

json::object to_json(const Summary& s) {
  return {{"count", s.count}, {"lost", s.lost},  {"p50_ms", s.p50},
          {"p90_ms", s.p90},  {"p99_ms", s.p99}, {"max_ms", s.max}};
}

namespace {

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

}  // namespace

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

}  // namespace portier::bench
