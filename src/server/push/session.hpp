#pragma once
// A push session's transport: one WebSocket (plain or TLS, Beast), on its own strand. It
// completes the handshake, reads messages a little at a time, writes one message at a time
// from a bounded queue (over its byte budget the session is closed with 4001 and the client
// resumes from its cursor), and closes; what the messages mean is the Protocol's. It is listed
// in the hub from the handshake on and leaves on close or in its destructor, so a connection
// whose handshake fails or times out leaves nothing behind. Beast stays in session.cpp.

#include <chrono>
#include <cstddef>
#include <memory>

#include "server/push/protocol.hpp"

namespace boost::asio {
class thread_pool;
}

namespace portier {
struct Upgrade;
}

namespace portier::push {

struct SessionOptions {
  std::size_t max_message_bytes = 64 * 1024;  // largest client message (1009 past it)
  std::size_t queue_budget_bytes = 4 << 20;   // unsent bytes before 4001
  std::chrono::seconds handshake_timeout{10};
  std::chrono::seconds hello_timeout{10};  // from upgrade to hello
  std::chrono::seconds idle_timeout{60};   // silence (pings unanswered) before closing
};

// What every session shares: owned by the gateway, kept alive by the sessions.
struct Shared {
  std::shared_ptr<Hub> hub;
  std::shared_ptr<PendingCommands> commands;
  boost::asio::thread_pool& workers;
  SessionOptions options;
  Services services;  // refers to *hub and *commands
  Metrics* metrics;   // may be null
};

// Takes over an upgraded connection: handshake, then the protocol.
void start_session(std::unique_ptr<Upgrade> up, std::shared_ptr<Shared> shared);

}  // namespace portier::push
