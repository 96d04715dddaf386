#pragma once
// Child processes of the bench (portierd, Mosquitto, the floor, workers) and what /proc says
// about a process.

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace portier::bench {

class Child {
 public:
  struct Options {
    bool pipe_stdin = false;   // else /dev/null
    bool pipe_stdout = false;  // else inherited, or to output_file
    std::string stderr_file;   // appended to; empty: inherited
    std::string output_file;   // standard output appended here (when not piped)
  };
  // Starts argv[0] (a path) with the arguments. The child dies with the bench (PDEATHSIG).
  Child(const std::vector<std::string>& argv, const Options& options);
  Child(const Child&) = delete;
  Child& operator=(const Child&) = delete;
  ~Child();  // SIGKILLs and reaps a child still running

  // Writes all of `text` to the child's standard input; false when it is gone.
  bool write(const std::string& text);
  void close_stdin();
  // The next line of standard output, or nullopt at EOF or when the deadline passes.
  std::optional<std::string> read_line(std::chrono::milliseconds timeout);
  void signal(int sig);
  // Waits for exit: the exit code, 128 + signal when killed, or -1 on timeout.
  int wait(std::chrono::milliseconds timeout);
  // SIGTERM, wait up to `grace`, then SIGKILL: the exit status as wait() gives it.
  int stop(std::chrono::milliseconds grace);
  pid_t pid() const { return pid_; }
  bool running();

 private:
  pid_t pid_ = -1;
  int in_fd_ = -1, out_fd_ = -1;
  std::string buffer_;
};

struct ProcSample {
  std::int64_t rss_kb = 0;   // VmRSS
  std::int64_t anon_kb = 0;  // RssAnon: the heap and stacks
  std::int64_t file_kb = 0;  // RssFile: mapped files (an mmapped database's pages count here)
  std::int64_t cpu_us = 0;   // CPU time of its live threads (schedstat, else utime + stime)
  bool ok = false;
};
ProcSample sample_process(pid_t pid);

// On SIGINT or SIGTERM: kill every Child still running, remove every TempDir, exit 130.
// Call before any thread or child is started (it blocks those signals for a thread of its
// own to wait on; children unblock them). Also ignores SIGPIPE.
void cleanup_on_interrupt();

// This executable's path (/proc/self/exe), to start workers and the floor.
std::string self_exe();

// A free TCP port on 127.0.0.1 (bound and released: a small race the callers retry).
unsigned short free_port();

// A temporary directory, removed at destruction unless kept.
class TempDir {
 public:
  explicit TempDir(const std::string& prefix);
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::string& path() const { return path_; }
  void keep();

 private:
  std::string path_;
  bool keep_ = false;
};

}  // namespace portier::bench
