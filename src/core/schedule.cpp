#include "core/schedule.hpp"

#include <date/date.h>
#include <algorithm>
#include <boost/json.hpp>
#include <set>

namespace portier {
namespace json = boost::json;
namespace {

constexpr const char* kDayNames[7] = {"mon", "tue", "wed", "thu", "fri", "sat", "sun"};

const json::string* get_string(const json::object& o, const char* key) {
  auto it = o.find(key);
  return it == o.end() ? nullptr : it->value().if_string();
}

// Parses one {days?, start, end} window; `with_days` says whether days are required.
Result<Window> parse_window(const json::value& v, const std::string& field, bool with_days) {
  const auto* o = v.if_object();
  if (!o) return invalid(field, "schedule_invalid", "a window is an object {days, start, end}");
  for (const auto& kv : *o) {
    if (kv.key() != "start" && kv.key() != "end" && !(with_days && kv.key() == "days"))
      return invalid(field + "." + std::string(kv.key()), "unknown_field",
                     "unknown field; a window has " +
                         std::string(with_days ? "days, start and end" : "start and end"));
  }
  Window w;
  if (with_days) {
    auto it = o->find("days");
    const json::array* days = it == o->end() ? nullptr : it->value().if_array();
    if (!days) return invalid(field + ".days", "required", "days is a list like [\"mon\",\"tue\"]");
    if (days->empty())
      return invalid(field + ".days", "schedule_invalid", "a window needs at least one day");
    for (size_t i = 0; i < days->size(); ++i) {
      const auto* name = (*days)[i].if_string();
      int idx = -1;
      for (int d = 0; name && d < 7; ++d)
        if (*name == kDayNames[d]) idx = d;
      if (idx < 0)
        return invalid(field + ".days[" + std::to_string(i) + "]", "schedule_invalid",
                       "a day is one of mon, tue, wed, thu, fri, sat, sun");
      w.days |= static_cast<std::uint8_t>(1u << idx);
    }
  } else {
    w.days = 0x7f;
  }
  for (const char* key : {"start", "end"}) {
    const auto* s = get_string(*o, key);
    if (!s) return invalid(field + "." + key, "required", std::string(key) + " is \"HH:MM\"");
    auto secs = parse_hhmm(*s, std::string_view(key) == "end");
    if (!secs)
      return invalid(field + "." + key, "schedule_invalid",
                     std::string(key) + " " + std::string(*s) +
                         " is not a time of day (HH:MM, 00:00–23:59" +
                         (std::string_view(key) == "end" ? ", or 24:00)" : ")"));
    (std::string_view(key) == "start" ? w.start : w.end) = *secs;
  }
  if (w.start == w.end)
    return invalid(field + ".end", "schedule_invalid",
                   "a window's end equals its start; for a whole day use 00:00–24:00");
  return w;
}

Result<std::vector<Window>> parse_windows(const json::object& o, const char* key,
                                          const std::string& prefix, bool with_days) {
  std::vector<Window> out;
  auto it = o.find(key);
  if (it == o.end()) return out;
  const auto* arr = it->value().if_array();
  if (!arr) return invalid(prefix + key, "schedule_invalid", std::string(key) + " is a list");
  if (arr->size() > 100) return invalid(prefix + key, "too_many", "at most 100 windows");
  for (size_t i = 0; i < arr->size(); ++i) {
    auto w = parse_window((*arr)[i], prefix + key + "[" + std::to_string(i) + "]", with_days);
    if (!w) return w.error();
    out.push_back(*w);
  }
  return out;
}

}  // namespace

Result<Schedule> parse_schedule(const json::object& body) {
  Schedule s;
  auto windows = parse_windows(body, "windows", "", true);
  if (!windows) return windows.error();
  s.windows = std::move(*windows);
  auto it = body.find("exceptions");
  if (it == body.end()) return s;
  const auto* arr = it->value().if_array();
  if (!arr) return invalid("exceptions", "schedule_invalid", "exceptions is a list");
  if (arr->size() > 1000) return invalid("exceptions", "too_many", "at most 1000 exceptions");
  std::set<std::chrono::sys_days> seen;
  for (size_t i = 0; i < arr->size(); ++i) {
    std::string field = "exceptions[" + std::to_string(i) + "]";
    const auto* o = (*arr)[i].if_object();
    if (!o) return invalid(field, "schedule_invalid", "an exception is {date, closed | windows}");
    for (const auto& kv : *o)
      if (kv.key() != "date" && kv.key() != "closed" && kv.key() != "windows")
        return invalid(field + "." + std::string(kv.key()), "unknown_field",
                       "unknown field; an exception has date and closed or windows");
    const auto* date = get_string(*o, "date");
    auto day = date ? parse_date(*date) : std::nullopt;
    if (!day) return invalid(field + ".date", "schedule_invalid", "date is \"YYYY-MM-DD\"");
    if (!seen.insert(*day).second)
      return invalid(field + ".date", "schedule_invalid", "two exceptions for the same date");
    DayException e{*day, false, {}};
    auto closed = o->find("closed");
    bool has_windows = o->contains("windows");
    if (closed != o->end()) {
      if (!closed->value().is_bool())
        return invalid(field + ".closed", "schedule_invalid", "closed is true or false");
      e.closed = closed->value().as_bool();
    }
    if (e.closed == has_windows)
      return invalid(field, "schedule_invalid",
                     "an exception either closes its date (closed: true) or gives its windows");
    if (has_windows) {
      auto ws = parse_windows(*o, "windows", field + ".", false);
      if (!ws) return ws.error();
      e.windows = std::move(*ws);
    }
    s.exceptions.push_back(std::move(e));
  }
  std::sort(s.exceptions.begin(), s.exceptions.end(),
            [](const auto& a, const auto& b) { return a.date < b.date; });
  return s;
}

void merge_intervals(std::vector<Interval>& v) {
  std::sort(v.begin(), v.end(), [](const Interval& a, const Interval& b) {
    return a.begin < b.begin || (a.begin == b.begin && a.end < b.end);
  });
  size_t out = 0;
  for (const auto& iv : v) {
    if (iv.end <= iv.begin) continue;
    if (out > 0 && iv.begin <= v[out - 1].end) {
      v[out - 1].end = std::max(v[out - 1].end, iv.end);
    } else {
      v[out++] = iv;
    }
  }
  v.resize(out);
}

std::vector<Interval> schedule_intervals(const Schedule& s, Zone zone, std::chrono::sys_days first,
                                         std::chrono::sys_days last) {
  std::vector<Interval> out;
  for (auto day = first; day <= last; day += date::days{1}) {
    const std::vector<Window>* windows = &s.windows;
    auto exc = std::lower_bound(s.exceptions.begin(), s.exceptions.end(), day,
                                [](const DayException& e, auto d) { return e.date < d; });
    bool replaced = exc != s.exceptions.end() && exc->date == day;
    if (replaced) windows = &exc->windows;  // empty when closed
    // date::weekday: 0 = Sunday; our bit 0 = Monday.
    unsigned wd = (date::weekday(day).c_encoding() + 6) % 7;
    auto local_midnight = std::chrono::local_seconds(day.time_since_epoch());
    for (const auto& w : *windows) {
      if (!replaced && !(w.days & (1u << wd))) continue;
      auto start_local = local_midnight + std::chrono::seconds(w.start);
      auto end_local = local_midnight + std::chrono::seconds(w.end) +
                       (w.end <= w.start ? std::chrono::seconds(86400) : std::chrono::seconds(0));
      Interval iv{to_instant(zone, start_local, false), to_instant(zone, end_local, true)};
      if (iv.end > iv.begin) out.push_back(iv);
    }
  }
  merge_intervals(out);
  return out;
}

}  // namespace portier
