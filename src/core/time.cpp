#include "core/time.hpp"

#include <date/date.h>
#include <date/tz.h>

#include <charconv>
#include <cstdio>

namespace portier {
namespace {

bool digits(std::string_view s, size_t pos, size_t n, int& out) {
  if (pos + n > s.size()) return false;
  int v = 0;
  for (size_t i = pos; i < pos + n; ++i) {
    if (s[i] < '0' || s[i] > '9') return false;
    v = v * 10 + (s[i] - '0');
  }
  out = v;
  return true;
}

}  // namespace

Zone find_zone(std::string_view name) {
  if (name.empty() || name.size() > 64) return nullptr;
  try {
    return date::locate_zone(name);
  } catch (const std::exception&) {
    return nullptr;  // the library reports an unknown name by throwing
  }
}

std::optional<InstantMs> parse_rfc3339_ms(std::string_view s) {
  int y, mo, d, h, mi, sec;
  int millis = 0;
  if (!digits(s, 0, 4, y) || s.size() < 20 || s[4] != '-' || !digits(s, 5, 2, mo) || s[7] != '-' ||
      !digits(s, 8, 2, d) || (s[10] != 'T' && s[10] != 't' && s[10] != ' ') ||
      !digits(s, 11, 2, h) || s[13] != ':' || !digits(s, 14, 2, mi) || s[16] != ':' ||
      !digits(s, 17, 2, sec))
    return std::nullopt;
  size_t pos = 19;
  if (pos < s.size() && s[pos] == '.') {
    ++pos;
    size_t start = pos;
    while (pos < s.size() && s[pos] >= '0' && s[pos] <= '9') {
      if (pos - start < 3) millis = millis * 10 + (s[pos] - '0');
      ++pos;
    }
    if (pos == start) return std::nullopt;
    for (size_t n = pos - start; n < 3; ++n) millis *= 10;
  }
  int offset = 0;
  if (pos < s.size() && (s[pos] == 'Z' || s[pos] == 'z')) {
    ++pos;
  } else if (pos < s.size() && (s[pos] == '+' || s[pos] == '-')) {
    int oh, om;
    if (!digits(s, pos + 1, 2, oh) || pos + 3 >= s.size() || s[pos + 3] != ':' ||
        !digits(s, pos + 4, 2, om) || oh > 23 || om > 59)
      return std::nullopt;
    offset = (oh * 60 + om) * 60 * (s[pos] == '-' ? -1 : 1);
    pos += 6;
  } else {
    return std::nullopt;
  }
  if (pos != s.size()) return std::nullopt;
  date::year_month_day ymd{date::year{y}, date::month(static_cast<unsigned>(mo)),
                           date::day(static_cast<unsigned>(d))};
  if (!ymd.ok() || h > 23 || mi > 59 || sec > 60) return std::nullopt;
  if (sec == 60) sec = 59;  // a leap second names the last second of its minute
  auto t = date::sys_days(ymd) + std::chrono::hours(h) + std::chrono::minutes(mi) +
           std::chrono::seconds(sec) - std::chrono::seconds(offset);
  return InstantMs(std::chrono::duration_cast<std::chrono::milliseconds>(t.time_since_epoch()) +
                   std::chrono::milliseconds(millis));
}

std::optional<Instant> parse_rfc3339(std::string_view s) {
  auto t = parse_rfc3339_ms(s);
  if (!t) return std::nullopt;
  return std::chrono::floor<std::chrono::seconds>(*t);
}

std::string format_rfc3339_ms(InstantMs t) { return date::format("%FT%TZ", t); }

std::string format_rfc3339(Instant t, Zone zone) {
  if (zone == nullptr) return date::format("%FT%TZ", t);
  auto info = zone->get_info(t);
  auto local = t + info.offset;
  std::string out = date::format("%FT%T", local);
  auto off = std::chrono::duration_cast<std::chrono::minutes>(info.offset).count();
  char buf[16];
  std::snprintf(buf, sizeof buf, "%c%02d:%02d", off < 0 ? '-' : '+',
                static_cast<int>(std::abs(off) / 60), static_cast<int>(std::abs(off) % 60));
  return out + buf;
}

std::optional<int> parse_hhmm(std::string_view s, bool allow_24) {
  int h, m;
  if (s.size() != 5 || !digits(s, 0, 2, h) || s[2] != ':' || !digits(s, 3, 2, m)) return {};
  if (m > 59) return std::nullopt;
  if (h == 24 && m == 0 && allow_24) return 24 * 3600;
  if (h > 23) return std::nullopt;
  return (h * 60 + m) * 60;
}

std::string format_hhmm(int seconds_of_day) {
  char buf[16];
  std::snprintf(buf, sizeof buf, "%02d:%02d", seconds_of_day / 3600, seconds_of_day / 60 % 60);
  return buf;
}

std::optional<std::chrono::sys_days> parse_date(std::string_view s) {
  int y, m, d;
  if (s.size() != 10 || !digits(s, 0, 4, y) || s[4] != '-' || !digits(s, 5, 2, m) || s[7] != '-' ||
      !digits(s, 8, 2, d))
    return std::nullopt;
  date::year_month_day ymd{date::year{y}, date::month(static_cast<unsigned>(m)),
                           date::day(static_cast<unsigned>(d))};
  if (!ymd.ok()) return std::nullopt;
  return date::sys_days(ymd);
}

std::string format_date(std::chrono::sys_days day) { return date::format("%F", day); }

Instant to_instant(Zone zone, std::chrono::local_seconds local, bool latest) {
  auto info = zone->get_info(date::local_seconds(local.time_since_epoch()));
  switch (info.result) {
    case date::local_info::unique:
      return Instant((local - info.first.offset).time_since_epoch());
    case date::local_info::nonexistent:
      // The clocks jump over this time: the first instant after the gap.
      return std::chrono::time_point_cast<std::chrono::seconds>(info.second.begin);
    case date::local_info::ambiguous:
    default:
      return Instant(
          (local - (latest ? info.second.offset : info.first.offset)).time_since_epoch());
  }
}

std::chrono::sys_days local_day(Zone zone, Instant t) {
  auto local = t + zone->get_info(t).offset;
  return std::chrono::floor<date::days>(std::chrono::sys_seconds(local.time_since_epoch()));
}

}  // namespace portier
