#include "server/memory_trim.hpp"

#include <spdlog/spdlog.h>
#include <sys/resource.h>
#include <unistd.h>

#include <fstream>

#include "server/metrics.hpp"

#if defined(__GLIBC__)
#include <malloc.h>
#endif

namespace portier {

std::int64_t resident_bytes() {
  std::ifstream statm("/proc/self/statm");
  std::int64_t size = 0, resident = 0;
  if (!(statm >> size >> resident)) return 0;
  return resident * sysconf(_SC_PAGESIZE);
}

MemoryTrim::MemoryTrim(std::chrono::milliseconds period, std::int64_t growth, Metrics* metrics)
    : period_(period), growth_(growth), metrics_(metrics) {}

MemoryTrim::~MemoryTrim() { stop(); }

void MemoryTrim::start() {
  thread_ = std::thread([this] {
    std::unique_lock lock(mu_);
    while (!cv_.wait_for(lock, period_, [this] { return stopping_; })) {
      lock.unlock();
      check();
      lock.lock();
    }
  });
}

void MemoryTrim::stop() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  cv_.notify_one();
  if (thread_.joinable()) thread_.join();
}

std::chrono::microseconds cpu_time() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  auto us = [](const timeval& t) {
    return std::chrono::seconds(t.tv_sec) + std::chrono::microseconds(t.tv_usec);
  };
  return us(u.ru_utime) + us(u.ru_stime);
}

std::int64_t MemoryTrim::check() {
  auto now = resident_bytes();
  auto at = std::chrono::steady_clock::now();
  auto cpu = cpu_time();
  if (baseline_ < 0 || now < baseline_) baseline_ = now;  // the first look, or it shrank
  // A burst still growing the process is left alone (its memory is in use), and so is a busy
  // process (the trim would hold up its allocations).
  bool steady = last_ >= 0 && now - last_ < kSteady;
  bool quiet = last_ >= 0 && (cpu - last_cpu_) * 10 < at - last_at_;  // under 10% of a core
  last_ = now;
  last_at_ = at;
  last_cpu_ = cpu;
  if (!steady || !quiet || now - baseline_ < growth_) return 0;
#if defined(__GLIBC__)
  malloc_trim(0);
  baseline_ = last_ = resident_bytes();
  auto released = std::max<std::int64_t>(0, now - baseline_);
  auto took = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - at);
  if (metrics_) {
    metrics_->count("portier_memory_trims_total");
    metrics_->count("portier_memory_trimmed_bytes_total", "", static_cast<std::uint64_t>(released));
  }
  spdlog::info(
      "memory: the process grew to {:.0f} MB; returned {:.0f} MB of freed heap in {:.1f} ms",
      static_cast<double>(now) / 1e6, static_cast<double>(released) / 1e6, took.count());
  return released;
#else
  baseline_ = now;
  return 0;
#endif
}

}  // namespace portier
