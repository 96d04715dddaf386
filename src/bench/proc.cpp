#include "bench/proc.hpp"

#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <set>
#include <sstream>
#include <stdexcept>
#include <thread>

namespace portier::bench {

namespace {

// What an interrupt must clean up: children still running, temporary directories.
std::mutex g_mu;
std::set<pid_t> g_children;
std::set<std::string> g_dirs;

void track_child(pid_t pid, bool alive) {
  std::lock_guard lock(g_mu);
  if (alive)
    g_children.insert(pid);
  else
    g_children.erase(pid);
}

}  // namespace

void cleanup_on_interrupt() {
  std::signal(SIGPIPE, SIG_IGN);
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
  std::thread([set] {
    int sig = 0;
    sigwait(&set, &sig);
    std::lock_guard lock(g_mu);
    std::fprintf(stderr, "portier-bench: interrupted; stopping its servers and workers\n");
    for (auto pid : g_children) ::kill(pid, SIGKILL);
    for (auto pid : g_children) waitpid(pid, nullptr, 0);
    std::error_code ec;
    for (const auto& d : g_dirs) std::filesystem::remove_all(d, ec);
    _exit(130);
  }).detach();
}

Child::Child(const std::vector<std::string>& argv, const Options& options) {
  int in[2] = {-1, -1}, out[2] = {-1, -1};
  if (options.pipe_stdin && pipe2(in, O_CLOEXEC) != 0) throw std::runtime_error("pipe failed");
  if (options.pipe_stdout && pipe2(out, O_CLOEXEC) != 0) throw std::runtime_error("pipe failed");
  auto open_log = [](const std::string& path) {
    if (path.empty()) return -1;
    int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
    if (fd < 0) throw std::runtime_error("cannot open " + path);
    return fd;
  };
  int err_fd = open_log(options.stderr_file);
  int log_fd = options.pipe_stdout ? -1 : open_log(options.output_file);
  pid_t parent = getpid();
  pid_ = fork();
  if (pid_ < 0) throw std::runtime_error(std::string("fork: ") + std::strerror(errno));
  if (pid_ == 0) {
    // Die with the bench: an aborted run must not leave servers behind.
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    sigprocmask(SIG_UNBLOCK, &set, nullptr);  // blocked in the bench (cleanup_on_interrupt)
    std::signal(SIGPIPE, SIG_DFL);
    if (getppid() != parent) _exit(1);
    if (options.pipe_stdin) {
      dup2(in[0], 0);
    } else {
      int null = ::open("/dev/null", O_RDONLY);
      dup2(null, 0);
    }
    if (options.pipe_stdout) dup2(out[1], 1);
    if (log_fd >= 0) dup2(log_fd, 1);
    if (err_fd >= 0) dup2(err_fd, 2);
    std::vector<char*> args;
    for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    execv(args[0], args.data());
    std::fprintf(stderr, "cannot run %s: %s\n", args[0], std::strerror(errno));
    _exit(127);
  }
  track_child(pid_, true);
  if (err_fd >= 0) ::close(err_fd);
  if (log_fd >= 0) ::close(log_fd);
  if (options.pipe_stdin) {
    ::close(in[0]);
    in_fd_ = in[1];
  }
  if (options.pipe_stdout) {
    ::close(out[1]);
    out_fd_ = out[0];
  }
}

Child::~Child() {
  if (pid_ > 0) {
    ::kill(pid_, SIGKILL);
    waitpid(pid_, nullptr, 0);
    track_child(pid_, false);
  }
  if (in_fd_ >= 0) ::close(in_fd_);
  if (out_fd_ >= 0) ::close(out_fd_);
}

bool Child::write(const std::string& text) {
  std::size_t done = 0;
  while (done < text.size()) {
    if (in_fd_ < 0) return false;
    auto n = ::write(in_fd_, text.data() + done, text.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    done += static_cast<std::size_t>(n);
  }
  return true;
}

void Child::close_stdin() {
  if (in_fd_ >= 0) ::close(in_fd_);
  in_fd_ = -1;
}

std::optional<std::string> Child::read_line(std::chrono::milliseconds timeout) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    if (auto nl = buffer_.find('\n'); nl != std::string::npos) {
      std::string line = buffer_.substr(0, nl);
      buffer_.erase(0, nl + 1);
      return line;
    }
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0 || out_fd_ < 0) return std::nullopt;
    pollfd p{out_fd_, POLLIN, 0};
    int r = poll(&p, 1, static_cast<int>(left.count()));
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) return std::nullopt;
    char buf[65536];
    auto n = ::read(out_fd_, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      ::close(out_fd_);
      out_fd_ = -1;
      return std::nullopt;
    }
    buffer_.append(buf, static_cast<std::size_t>(n));
  }
}

void Child::signal(int sig) {
  if (pid_ > 0) ::kill(pid_, sig);
}

int Child::wait(std::chrono::milliseconds timeout) {
  if (pid_ <= 0) return -1;
  auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    int status = 0;
    pid_t r = waitpid(pid_, &status, WNOHANG);
    if (r == pid_) {
      track_child(pid_, false);
      pid_ = -1;
      if (WIFEXITED(status)) return WEXITSTATUS(status);
      if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
      return -1;
    }
    if (std::chrono::steady_clock::now() >= deadline) return -1;
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
}

int Child::stop(std::chrono::milliseconds grace) {
  if (pid_ <= 0) return -1;
  signal(SIGTERM);
  int rc = wait(grace);
  if (rc != -1) return rc;
  signal(SIGKILL);
  return wait(std::chrono::seconds(10));
}

bool Child::running() {
  if (pid_ <= 0) return false;
  int status = 0;
  if (waitpid(pid_, &status, WNOHANG) == pid_) {
    track_child(pid_, false);
    pid_ = -1;
    return false;
  }
  return true;
}

ProcSample sample_process(pid_t pid) {
  ProcSample s;
  std::ifstream status("/proc/" + std::to_string(pid) + "/status");
  for (std::string line; std::getline(status, line);) {
    if (line.rfind("VmRSS:", 0) == 0) s.rss_kb = std::stoll(line.substr(6));
    if (line.rfind("RssAnon:", 0) == 0) s.anon_kb = std::stoll(line.substr(8));
    if (line.rfind("RssFile:", 0) == 0) s.file_kb = std::stoll(line.substr(8));
  }
  std::ifstream stat("/proc/" + std::to_string(pid) + "/stat");
  std::string text((std::istreambuf_iterator<char>(stat)), std::istreambuf_iterator<char>());
  // Fields after the command name, which is in parentheses and may hold spaces.
  auto close = text.rfind(')');
  if (close == std::string::npos) return s;
  std::istringstream rest(text.substr(close + 2));
  std::vector<std::string> f;
  for (std::string x; rest >> x;) f.push_back(x);
  // f[0] is field 3 (state); utime and stime are fields 14 and 15.
  if (f.size() < 13) return s;
  long ticks = sysconf(_SC_CLK_TCK);
  auto cpu_ticks = std::stoll(f[11]) + std::stoll(f[12]);
  s.cpu_us = cpu_ticks * 1'000'000 / ticks;
  // The scheduler's nanoseconds on CPU, per thread, when the kernel keeps them: the ticks
  // above are 10 ms apart, too coarse for one small edit.
  std::int64_t ns = 0;
  bool have = false;
  std::error_code ec;
  for (const auto& t :
       std::filesystem::directory_iterator("/proc/" + std::to_string(pid) + "/task", ec)) {
    std::ifstream f(t.path() / "schedstat");
    std::int64_t v = 0;
    if (f >> v) {
      ns += v;
      have = true;
    }
  }
  if (have) s.cpu_us = ns / 1000;
  s.ok = s.rss_kb > 0;
  return s;
}

std::string self_exe() {
  std::error_code ec;
  auto p = std::filesystem::read_symlink("/proc/self/exe", ec);
  if (ec) throw std::runtime_error("cannot read /proc/self/exe");
  return p.string();
}

unsigned short free_port() {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  a.sin_port = 0;
  socklen_t len = sizeof a;
  if (fd < 0 || ::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 ||
      getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len) != 0) {
    if (fd >= 0) ::close(fd);
    throw std::runtime_error("cannot find a free port");
  }
  ::close(fd);
  return ntohs(a.sin_port);
}

TempDir::TempDir(const std::string& prefix) {
  std::string tmpl = "/tmp/" + prefix + "-XXXXXX";
  if (!mkdtemp(tmpl.data())) throw std::runtime_error("mkdtemp failed");
  path_ = tmpl;
  std::lock_guard lock(g_mu);
  g_dirs.insert(path_);
}

void TempDir::keep() {
  keep_ = true;
  std::lock_guard lock(g_mu);
  g_dirs.erase(path_);
}

TempDir::~TempDir() {
  {
    std::lock_guard lock(g_mu);
    g_dirs.erase(path_);
  }
  if (keep_) return;
  std::error_code ec;
  std::filesystem::remove_all(path_, ec);
}

}  // namespace portier::bench
