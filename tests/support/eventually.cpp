#include "support/eventually.hpp"

#include <algorithm>
#include <fstream>
#include <sstream>
#include <thread>
#include <vector>

namespace portier::testing {

bool eventually(const std::function<bool()>& pred, std::chrono::milliseconds timeout,
                std::chrono::milliseconds max_interval) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  auto interval = std::chrono::milliseconds(1);
  for (;;) {
    if (pred()) return true;
    auto now = std::chrono::steady_clock::now();
    if (now >= deadline) return false;
    // The last check comes at the deadline, not a full interval after it.
    std::this_thread::sleep_for(
        std::min<std::chrono::steady_clock::duration>(interval, deadline - now));
    interval = std::min(interval * 2, max_interval);
  }
}

namespace {

std::vector<std::string> all_lines(const std::string& path) {
  std::ifstream f(path);
  std::vector<std::string> out;
  for (std::string l; std::getline(f, l);) out.push_back(l);
  return out;
}

}  // namespace

std::optional<std::string> LogFile::wait_for(const std::string& needle,
                                             std::chrono::milliseconds timeout) {
  std::optional<std::string> found;
  eventually(
      [&] {
        auto lines = all_lines(path_);
        for (std::size_t i = matched_; i < lines.size(); ++i)
          if (lines[i].find(needle) != std::string::npos) {
            matched_ = i + 1;
            found = lines[i];
            return true;
          }
        return false;
      },
      timeout);
  return found;
}

bool LogFile::contains(const std::string& needle) const {
  auto lines = all_lines(path_);
  return std::any_of(lines.begin() + static_cast<std::ptrdiff_t>(std::min(matched_, lines.size())),
                     lines.end(),
                     [&](const std::string& l) { return l.find(needle) != std::string::npos; });
}

std::string LogFile::text() const {
  std::ifstream f(path_);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

}  // namespace portier::testing
