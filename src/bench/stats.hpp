#pragma once
// Percentiles of latency samples and medians over repeats.

#include <cstdint>
#include <vector>

namespace portier::bench {

struct Summary {
  std::size_t count = 0;  // samples that arrived
  std::size_t lost = 0;   // samples that never did
  double p50 = 0, p90 = 0, p99 = 0, max = 0;
};

// Nearest-rank percentile (q in [0, 1]) of sorted samples; 0 when there are none.
double percentile(const std::vector<double>& sorted, double q);
// Summarizes samples (any order); `lost` is carried through.
Summary summarize(std::vector<double> samples, std::size_t lost = 0);
// The median of values (the lower middle one for an even count, so it is a measured value).
double median(std::vector<double> values);
// Summaries field by field: the median of each percentile; losses add up (any loss fails).
Summary median_summary(const std::vector<Summary>& runs);

}  // namespace portier::bench
