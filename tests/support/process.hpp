#pragma once
// Child processes for whole-system tests: spawn, read stdout lines with a deadline, signal, wait.

#include <sys/types.h>

#include <chrono>
#include <optional>
#include <string>
#include <vector>

namespace portier::testing {

// How a child starts, beyond its arguments.
struct ChildOptions {
  std::string stdin_text;     // written to its standard input, which is then closed
  unsigned long fd_soft = 0;  // non-zero: RLIMIT_NOFILE soft limit in the child
  unsigned long fd_hard = 0;  // non-zero: RLIMIT_NOFILE hard limit in the child
  std::string stderr_path;    // non-empty: standard error goes to this file
};

class Process {
 public:
  // Starts argv[0] with the arguments; stdin_text is written to its standard input then closed.
  Process(const std::vector<std::string>& argv, const std::string& stdin_text = "");
  Process(const std::vector<std::string>& argv, const ChildOptions& options);
  Process(const Process&) = delete;
  Process& operator=(const Process&) = delete;
  ~Process();  // SIGKILLs a child still running

  // The next line of standard output, or nullopt at EOF or when the deadline passes.
  std::optional<std::string> read_line(std::chrono::milliseconds timeout);
  // Reads lines until one contains `needle`; returns it.
  std::optional<std::string> wait_for_line(const std::string& needle,
                                           std::chrono::milliseconds timeout);
  void signal(int sig);
  // Waits for exit; the exit code, 128+signal when killed, or -1 on timeout.
  int wait(std::chrono::milliseconds timeout);
  pid_t pid() const { return pid_; }
  bool running() const { return pid_ > 0; }

 private:
  pid_t pid_ = -1;
  int out_fd_ = -1;
  std::string buffer_;
};

// Runs a command to completion; returns {exit code, stdout}.
std::pair<int, std::string> run(const std::vector<std::string>& argv,
                                const std::string& stdin_text = "",
                                std::chrono::milliseconds timeout = std::chrono::seconds(60));

// The non-empty lines of a file (none when it does not exist).
std::vector<std::string> read_lines(const std::string& path);

// CPU time (user + system) a process has used so far, from /proc/PID/stat.
std::chrono::milliseconds cpu_time(pid_t pid);

// A temporary directory removed at destruction.
class TempDir {
 public:
  TempDir();
  ~TempDir();
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

}  // namespace portier::testing
