#pragma once
// A worker process: holds thousands of simulated device sessions (portier WebSocket, MQTT
// subscribers, floor sockets) on a few io threads and answers the bench's commands, one JSON
// object per line on standard input, one answer per line on standard output (see README.md).

#include <atomic>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/address_v4.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

namespace portier::bench {

int worker_main(int threads);

enum class Role { device, unit, app };

// One session as the bench described it.
struct Spec {
  std::string kind;  // ws, mqtt, floor
  Role role = Role::device;
  std::string token, feed, device, topic, client_id;
  boost::asio::ip::address_v4 src;
  boost::asio::ip::tcp::endpoint server;
};

class Worker;

// A simulated device. Lives until the worker says no operation refers to it any more; every
// member is touched on its io thread only.
class Session {
 public:
  Session(Worker& w, boost::asio::io_context& ioc, Spec spec)
      : w_(w), ioc_(ioc), spec_(std::move(spec)) {}
  virtual ~Session() = default;
  virtual void start() = 0;     // the first connection
  virtual void shutdown() = 0;  // close for good (gracefully when possible)
  virtual void abort() = 0;     // close the socket now
  // An app's k-th open of `door` (apps only).
  virtual void send_open(std::int64_t, const std::string&) {}
  bool counted() const { return spec_.role == Role::device; }
  Role role() const { return spec_.role; }
  boost::asio::io_context& ioc() { return ioc_; }
  Worker& worker() { return w_; }

  // (tag, receipt time) for the first arrival of each tag.
  std::vector<std::pair<std::int64_t, std::int64_t>> records;
  std::size_t armed_bytes = 0;  // size of the frame that brought the armed tag
  std::int64_t synced_at = -1;  // when it last held its feed again (snapshot or resumed)
  std::size_t counted_index = 0;

 protected:
  // Records the tags a frame carries.
  void on_frame(std::string_view frame, std::int64_t t);
  // The first connection's outcome, reported once.
  void initial_result(bool ok, const std::string& error);

  Worker& w_;
  boost::asio::io_context& ioc_;
  Spec spec_;
  bool initial_reported_ = false;
};

std::unique_ptr<Session> make_session(Worker& w, boost::asio::io_context& ioc, Spec spec);

// What sessions tell the worker (any io thread).
class Worker {
 public:
  explicit Worker(int threads);
  ~Worker();
  int run();  // the command loop, until `quit` or end of input

  void initial_done(bool ok, const std::string& error);
  void tag_seen(std::int64_t tag);
  // A connection that ended: by a close frame with `code`, or (0) a transport failure `why`.
  void count_close(int code, const std::string& why);
  void count_reconnect() { reconnects_++; }
  void count_sync(bool resumed) { (resumed ? resumed_ : snapshots_)++; }
  void count_gap() { gaps_++; }
  void count_error(std::string_view text);
  // An open's answer (on io thread 0, where apps live).
  void open_answered(std::int64_t k, std::int64_t t, int status);

  bool resume() const { return resume_; }
  int backoff_ms() const { return backoff_ms_; }
  int ack_delay_ms() const { return ack_delay_ms_; }
  int ack_spread_ms() const { return ack_spread_ms_; }
  std::atomic<int> live_ops{0};  // connections alive + retry timers pending

 private:
  struct Impl;
  friend struct Impl;
  std::unique_ptr<Impl> impl_;
  std::atomic<bool> resume_{true};
  int backoff_ms_ = 100;
  int ack_delay_ms_ = 0;
  int ack_spread_ms_ = 0;
  std::atomic<std::int64_t> reconnects_{0}, resumed_{0}, snapshots_{0}, gaps_{0};
};

}  // namespace portier::bench
