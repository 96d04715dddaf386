#include "server/metrics.hpp"

#include <fmt/format.h>

namespace portier {

void Metrics::observe(const std::string& route, const std::string& method, int status,
                      std::chrono::nanoseconds latency) {
  double secs = std::chrono::duration<double>(latency).count();
  std::lock_guard lock(mu_);
  ++requests_[{route, method, status}];
  auto& h = latency_[route];
  for (size_t i = 0; i < kBuckets.size(); ++i)
    if (secs <= kBuckets[i]) ++h.buckets[i];
  ++h.count;
  h.sum += secs;
}

void Metrics::count(const std::string& name, const std::string& labels, std::uint64_t n) {
  std::lock_guard lock(mu_);
  counters_[name][labels] += n;
}

void Metrics::gauge(const std::string& name, std::function<double()> read) {
  std::lock_guard lock(mu_);
  gauges_[name] = std::move(read);
}

std::string Metrics::render() const {
  std::lock_guard lock(mu_);
  std::string out;
  for (const auto& [name, by_labels] : counters_) {
    out += "# TYPE " + name + " counter\n";
    for (const auto& [labels, n] : by_labels)
      out += fmt::format("{}{} {}\n", name, labels.empty() ? "" : "{" + labels + "}", n);
  }
  for (const auto& [name, read] : gauges_) {
    out += "# TYPE " + name + " gauge\n";
    out += fmt::format("{} {}\n", name, read());
  }
  out += "# HELP portier_http_requests_total HTTP requests by route, method and status.\n";
  out += "# TYPE portier_http_requests_total counter\n";
  for (const auto& [key, n] : requests_) {
    const auto& [route, method, status] = key;
    out +=
        fmt::format("portier_http_requests_total{{route=\"{}\",method=\"{}\",status=\"{}\"}} {}\n",
                    route, method, status, n);
  }
  out += "# HELP portier_http_request_duration_seconds HTTP request latency by route.\n";
  out += "# TYPE portier_http_request_duration_seconds histogram\n";
  for (const auto& [route, h] : latency_) {
    for (size_t i = 0; i < kBuckets.size(); ++i)
      out +=
          fmt::format("portier_http_request_duration_seconds_bucket{{route=\"{}\",le=\"{}\"}} {}\n",
                      route, kBuckets[i], h.buckets[i]);
    out +=
        fmt::format("portier_http_request_duration_seconds_bucket{{route=\"{}\",le=\"+Inf\"}} {}\n",
                    route, h.count);
    out +=
        fmt::format("portier_http_request_duration_seconds_sum{{route=\"{}\"}} {}\n", route, h.sum);
    out += fmt::format("portier_http_request_duration_seconds_count{{route=\"{}\"}} {}\n", route,
                       h.count);
  }
  return out;
}

}  // namespace portier
