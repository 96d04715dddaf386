#pragma once
// The server's clock, one for the API, the push gateway and the door service: injectable, so
// that tests move time instead of waiting for it. UTC, in milliseconds.

#include <chrono>
#include <functional>

#include "core/time.hpp"

namespace portier {

using Clock = std::function<InstantMs()>;

// The system's wall clock.
inline Clock system_clock() {
  return [] {
    return std::chrono::time_point_cast<std::chrono::milliseconds>(
        std::chrono::system_clock::now());
  };
}

// An instant to the second (stored times, audit entries, token expiries).
inline Instant whole_seconds(InstantMs t) { return std::chrono::floor<std::chrono::seconds>(t); }

}  // namespace portier
