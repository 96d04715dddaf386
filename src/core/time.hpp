#pragma once
// Instants, RFC 3339 text and IANA time zones. Pure: nothing here reads the clock.

#include <chrono>
#include <optional>
#include <string>
#include <string_view>

#include "core/result.hpp"

namespace date {
class time_zone;
}

namespace portier {

using Instant = std::chrono::sys_seconds;
using Zone = const date::time_zone*;

// The zone for an IANA name ("Europe/Madrid"), or nullptr when the tz database has none.
Zone find_zone(std::string_view name);

// Parses "2026-03-29T02:30:00+02:00", "…Z", with optional fraction (truncated to seconds).
// An offset is required: a time without one names no instant.
std::optional<Instant> parse_rfc3339(std::string_view text);

// Formats in UTC ("…Z"), or in the zone's local time with its offset ("…+01:00").
std::string format_rfc3339(Instant t, Zone zone = nullptr);

// Millisecond instants, for command expiries and device events.
using InstantMs = std::chrono::sys_time<std::chrono::milliseconds>;
// Like parse_rfc3339, keeping milliseconds.
std::optional<InstantMs> parse_rfc3339_ms(std::string_view text);
// UTC with milliseconds: "2026-11-27T07:30:00.125Z".
std::string format_rfc3339_ms(InstantMs t);

// Seconds since midnight from "HH:MM" (00:00–23:59), or "24:00" when allow_24 is set.
std::optional<int> parse_hhmm(std::string_view text, bool allow_24);
std::string format_hhmm(int seconds_of_day);

// A calendar date "YYYY-MM-DD" as days since 1970-01-01.
std::optional<std::chrono::sys_days> parse_date(std::string_view text);
std::string format_date(std::chrono::sys_days day);

// Local wall time -> instant, by portier's DST rule (see docs/api.md, "Schedules and time"):
// a local time in a skipped hour maps to the instant the clocks jump (the first existing
// time after it); a repeated local time maps to its first occurrence when `latest` is false,
// its second when true.
Instant to_instant(Zone zone, std::chrono::local_seconds local, bool latest);

// The local calendar day an instant falls on in a zone.
std::chrono::sys_days local_day(Zone zone, Instant t);

}  // namespace portier
