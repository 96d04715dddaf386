#include "bench/stats.hpp"

#include <algorithm>
#include <cmath>

namespace portier::bench {

double percentile(const std::vector<double>& sorted, double q) {
  if (sorted.empty()) return 0;
  auto rank = static_cast<std::size_t>(std::ceil(q * static_cast<double>(sorted.size())));
  rank = std::clamp<std::size_t>(rank, 1, sorted.size());
  return sorted[rank - 1];
}

Summary summarize(std::vector<double> samples, std::size_t lost) {
  std::sort(samples.begin(), samples.end());
  Summary s;
  s.count = samples.size();
  s.lost = lost;
  s.p50 = percentile(samples, 0.50);
  s.p90 = percentile(samples, 0.90);
  s.p99 = percentile(samples, 0.99);
  s.max = samples.empty() ? 0 : samples.back();
  return s;
}

double median(std::vector<double> values) {
  if (values.empty()) return 0;
  std::sort(values.begin(), values.end());
  return values[(values.size() - 1) / 2];
}

Summary median_summary(const std::vector<Summary>& runs) {
  Summary out;
  if (runs.empty()) return out;
  auto field = [&](double Summary::*f) {
    std::vector<double> v;
    for (const auto& r : runs) v.push_back(r.*f);
    return median(v);
  };
  out.p50 = field(&Summary::p50);
  out.p90 = field(&Summary::p90);
  out.p99 = field(&Summary::p99);
  out.max = field(&Summary::max);
  for (const auto& r : runs) {
    out.count = std::max(out.count, r.count);
    out.lost += r.lost;
  }
  return out;
}

}  // namespace portier::bench
