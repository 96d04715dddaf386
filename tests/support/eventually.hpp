#pragma once
// Waiting in tests: for a condition, or for a line in a log a child writes, always with a
// deadline — never a fixed sleep that hopes the system was quick enough.

#include <chrono>
#include <functional>
#include <optional>
#include <string>

namespace portier::testing {

// Checks `pred` until it holds or `timeout` passes, polling at 1 ms and backing off to
// `max_interval`; returns whether it held. The last check is made at the deadline.
bool eventually(const std::function<bool()>& pred,
                std::chrono::milliseconds timeout = std::chrono::seconds(10),
                std::chrono::milliseconds max_interval = std::chrono::milliseconds(50));

// A log file a child writes (ChildOptions::stderr_path): waits for lines to appear in it.
class LogFile {
 public:
  explicit LogFile(std::string path) : path_(std::move(path)) {}
  const std::string& path() const { return path_; }
  // Waits until a line after the ones already matched contains `needle`; returns that line
  // (and moves past it), or nullopt when the deadline passes.
  std::optional<std::string> wait_for(const std::string& needle,
                                      std::chrono::milliseconds timeout = std::chrono::seconds(10));
  // Whether a line after the ones already matched contains `needle`, now.
  bool contains(const std::string& needle) const;
  // Everything written so far (for failure messages).
  std::string text() const;

 private:
  std::string path_;
  std::size_t matched_ = 0;  // lines before this index were consumed by wait_for
};

}  // namespace portier::testing
