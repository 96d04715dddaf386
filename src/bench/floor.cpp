#include "bench/floor.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <sstream>
#include <string>
#include <unordered_map>
#include <vector>

#include "bench/wire.hpp"

namespace portier::bench {
namespace {

struct Floor {
  int listener = -1, ep = -1;
  std::unordered_map<int, std::string> conns;  // fd -> bytes still to write
  std::string input;

  void accept_all() {
    for (;;) {
      int fd = ::accept4(listener, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
      if (fd < 0) return;  // EAGAIN, or out of descriptors: the next wake-up tries again
      int one = 1;
      ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
      epoll_event e{};
      e.events = EPOLLIN | EPOLLRDHUP;
      e.data.fd = fd;
      ::epoll_ctl(ep, EPOLL_CTL_ADD, fd, &e);
      conns.emplace(fd, std::string());
    }
  }

  void drop(int fd) {
    ::epoll_ctl(ep, EPOLL_CTL_DEL, fd, nullptr);
    ::close(fd);
    conns.erase(fd);
  }

  // Writes what is pending on fd; asks for EPOLLOUT while something is left.
  void flush(int fd, std::string& pending) {
    while (!pending.empty()) {
      auto n = ::send(fd, pending.data(), pending.size(), MSG_NOSIGNAL);
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) break;
      pending.erase(0, static_cast<std::size_t>(n));
    }
    epoll_event e{};
    e.events = EPOLLIN | EPOLLRDHUP | (pending.empty() ? 0u : static_cast<unsigned>(EPOLLOUT));
    e.data.fd = fd;
    ::epoll_ctl(ep, EPOLL_CTL_MOD, fd, &e);
  }

  void send_all(std::size_t size, long long tag) {
    std::string frame = tagged_payload(tag, size) + "\n";
    auto begin = now_ns();
    for (auto& [fd, pending] : conns) {
      if (!pending.empty()) {
        pending += frame;
        continue;
      }
      auto n = ::send(fd, frame.data(), frame.size(), MSG_NOSIGNAL);
      if (n == static_cast<ssize_t>(frame.size())) continue;
      pending = frame.substr(n > 0 ? static_cast<std::size_t>(n) : 0);
      flush(fd, pending);
    }
    auto us = (now_ns() - begin) / 1000;
    std::printf("sent %zu %lld\n", conns.size(), static_cast<long long>(us));
    std::fflush(stdout);
  }

  // false on quit or end of input.
  bool command(const std::string& line) {
    std::istringstream in(line);
    std::string op;
    in >> op;
    if (op == "count") {
      std::printf("count %zu\n", conns.size());
    } else if (op == "send") {
      std::size_t size = 0;
      long long tag = 0;
      in >> size >> tag;
      send_all(size, tag);
      return true;
    } else if (op == "close") {
      std::vector<int> fds;
      for (const auto& c : conns) fds.push_back(c.first);
      for (int fd : fds) drop(fd);
      std::printf("closed\n");
    } else if (op == "quit") {
      return false;
    } else {
      std::printf("error unknown command\n");
    }
    std::fflush(stdout);
    return true;
  }

  int run() {
    listener = ::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    int one = 1;
    ::setsockopt(listener, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof a;
    if (::bind(listener, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 ||
        ::listen(listener, SOMAXCONN) != 0 ||
        ::getsockname(listener, reinterpret_cast<sockaddr*>(&a), &len) != 0) {
      std::fprintf(stderr, "floor: cannot listen: %s\n", std::strerror(errno));
      return 1;
    }
    ep = ::epoll_create1(EPOLL_CLOEXEC);
    epoll_event e{};
    e.events = EPOLLIN;
    e.data.fd = listener;
    ::epoll_ctl(ep, EPOLL_CTL_ADD, listener, &e);
    e.data.fd = 0;
    ::epoll_ctl(ep, EPOLL_CTL_ADD, 0, &e);
    std::printf("listening on %d\n", ntohs(a.sin_port));
    std::fflush(stdout);
    std::vector<epoll_event> events(1024);
    for (;;) {
      int n = ::epoll_wait(ep, events.data(), static_cast<int>(events.size()), -1);
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) return 1;
      for (int i = 0; i < n; ++i) {
        int fd = events[i].data.fd;
        if (fd == listener) {
          accept_all();
        } else if (fd == 0) {
          char buf[4096];
          auto r = ::read(0, buf, sizeof buf);
          if (r <= 0) return 0;
          input.append(buf, static_cast<std::size_t>(r));
          for (auto nl = input.find('\n'); nl != std::string::npos; nl = input.find('\n')) {
            std::string line = input.substr(0, nl);
            input.erase(0, nl + 1);
            if (!command(line)) return 0;
          }
        } else if (auto it = conns.find(fd); it != conns.end()) {
          if (events[i].events & (EPOLLRDHUP | EPOLLHUP | EPOLLERR)) {
            drop(fd);
          } else if (events[i].events & EPOLLOUT) {
            flush(fd, it->second);
          } else {
            char sink[512];  // clients send nothing; drain whatever comes
            if (::recv(fd, sink, sizeof sink, 0) == 0) drop(fd);
          }
        }
      }
    }
  }
};

}  // namespace

int floor_main() {
  Floor f;
  return f.run();
}

}  // namespace portier::bench
