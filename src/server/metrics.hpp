#pragma once
// Request counters and latency histograms, rendered in the Prometheus text format.

#include <array>
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <string>
#include <tuple>

namespace portier {

class Metrics {
 public:
  // Records one request by route pattern, method and status.
  void observe(const std::string& route, const std::string& method, int status,
               std::chrono::nanoseconds latency);
  // Adds to a counter; labels are Prometheus label pairs (`code="4001"`) or "".
  void count(const std::string& name, const std::string& labels = "", std::uint64_t n = 1);
  // A gauge read when metrics are rendered.
  void gauge(const std::string& name, std::function<double()> read);
  // The Prometheus text exposition of everything recorded.
  std::string render() const;

 private:
  static constexpr std::array<double, 10> kBuckets = {0.0005, 0.001, 0.0025, 0.005, 0.01,
                                                      0.025,  0.05,  0.1,    0.5,   1.0};
  struct Histogram {
    std::array<std::uint64_t, kBuckets.size()> buckets{};
    std::uint64_t count = 0;
    double sum = 0;
  };
  mutable std::mutex mu_;
  std::map<std::tuple<std::string, std::string, int>, std::uint64_t> requests_;
  std::map<std::string, Histogram> latency_;
  std::map<std::string, std::map<std::string, std::uint64_t>> counters_;  // name -> labels -> n
  std::map<std::string, std::function<double()>> gauges_;
};

}  // namespace portier
