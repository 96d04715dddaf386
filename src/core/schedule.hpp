#pragma once
// Weekly schedules in a site's local time, with dated exceptions, and the instants they cover.
//
// A window belongs to the local day it starts on and runs [start, end); an end at or before
// its start runs overnight into the next day. An exception replaces the windows that start on
// its date (or closes it); an overnight window from the day before still runs into it.
// DST: a window runs from the first instant the wall clock shows its start to the last instant
// it shows its end; a start or end inside a skipped hour moves to the instant the clocks jump.

#include <boost/json/fwd.hpp>
#include <chrono>
#include <cstdint>
#include <vector>

#include "core/result.hpp"
#include "core/time.hpp"

namespace portier {

struct Window {
  std::uint8_t days = 0;  // bit i set = weekday i, 0 = Monday … 6 = Sunday
  int start = 0;          // seconds since local midnight
  int end = 0;            // seconds since local midnight, 24:00 allowed; <= start: overnight
};

struct DayException {
  std::chrono::sys_days date;
  bool closed = false;
  std::vector<Window> windows;  // replaces the date's windows when not closed; days unused
};

struct Schedule {
  std::vector<Window> windows;
  std::vector<DayException> exceptions;
};

// A half-open span of time [begin, end).
struct Interval {
  Instant begin;
  Instant end;
  friend bool operator==(const Interval&, const Interval&) = default;
};

inline constexpr Instant kNever = Instant::max();
inline constexpr Instant kAlways = Instant::min();

// Validates the JSON fields of a schedule ({windows, exceptions}); errors name the field,
// e.g. "windows[1].end".
Result<Schedule> parse_schedule(const boost::json::object& body);

// Merged, sorted intervals of the windows that start on local days [first, last] in the zone.
std::vector<Interval> schedule_intervals(const Schedule& s, Zone zone, std::chrono::sys_days first,
                                         std::chrono::sys_days last);

// Sorts and merges overlapping or touching intervals in place.
void merge_intervals(std::vector<Interval>& v);

}  // namespace portier
