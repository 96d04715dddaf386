#pragma once
// The HTTP/1.1 transport: accepts connections on io threads, reads requests with limits,
// runs the handler on a worker pool (store calls block; io threads must not) and writes the
// response back on the connection's strand whenever the handler calls respond (at once, or
// later from any thread). Drains gracefully on stop().

#include <chrono>
#include <functional>
#include <memory>
#include <string>

#include "core/result.hpp"
#include "server/http/http.hpp"

namespace boost::asio {
class io_context;
class thread_pool;
}  // namespace boost::asio

namespace portier {

struct Upgrade;
class Metrics;

// Raises the soft limit on open files to the hard limit; returns the soft limit now in force.
std::size_t raise_fd_limit();

struct HttpOptions {
  std::size_t max_body_bytes = 1 << 20;
  // One route may take larger bodies (the batch import).
  std::string large_body_path = "/v1/import";
  std::size_t large_body_bytes = 32 << 20;
  // Open connections, HTTP and upgraded, past which new ones are refused; 0: the fd limit
  // less a reserve for the store and the process.
  std::size_t max_connections = 0;
  std::size_t max_connections_per_address = 512;  // HTTP connections per remote address; 0: off
  std::chrono::seconds idle_timeout{60};
  std::chrono::seconds drain_timeout{10};
  std::string tls_cert;  // PEM chain; with tls_key, every connection speaks TLS (HTTPS, WSS)
  std::string tls_key;
};

class HttpServer {
 public:
  using Handler = std::function<void(const Request&, Respond)>;
  // Takes WebSocket upgrade requests for a path (the push gateway).
  using UpgradeHandler = std::function<void(std::unique_ptr<Upgrade>)>;

  HttpServer(boost::asio::io_context& ioc, boost::asio::thread_pool& workers, Handler handler,
             HttpOptions options = {});
  ~HttpServer();

  // Sends WebSocket upgrades of `path` to the handler; other upgrades get 404.
  void on_upgrade(std::string path, UpgradeHandler handler);
  // Counts the connections taken over by upgrades (the push gateway's sessions) toward
  // max_connections.
  void count_upgraded(std::function<std::size_t()> live);
  // Reports connections, refusals and accept errors into these metrics (set before listen).
  void set_metrics(Metrics* metrics);
  // Binds "HOST:PORT" (port 0 picks a free one) and starts accepting; returns the bound port.
  Result<unsigned short> listen(const std::string& host, const std::string& port);
  // Stops accepting, lets in-flight requests finish, closes idle connections; once every
  // connection is gone (or drain_timeout passes) the io_context runs out of work.
  void stop();

  struct Impl;

 private:
  std::shared_ptr<Impl> impl_;
};

}  // namespace portier
