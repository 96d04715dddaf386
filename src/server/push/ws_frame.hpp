#pragma once
// WebSocket framing (RFC 6455 §5) for the server side of a push session, as plain code: the
// head of a frame the server sends (unmasked, never fragmented), and a reader that takes the
// client's bytes as they arrive, in chunks of any size, and gives back whole messages, pings,
// pongs, the close frame, or the protocol error that ends the connection (with its close
// code). No extension is negotiated, so every RSV bit must be clear. No I/O here: session.cpp
// does the reading and writing, ws_frame_test.cpp feeds the reader byte by byte.
//
// Why not Beast's websocket::stream, which the handshake still uses: it keeps ~3 KiB per
// connection (buffers, timers, state for features we do not use) and runs several composed
// operations per message; a push server holds tens of thousands of mostly idle sessions and
// writes one prebuilt change to each of them (docs/benchmarks.md).

#include <array>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

namespace portier::push::ws {

enum class Op : std::uint8_t {
  kContinuation = 0,
  kText = 1,
  kBinary = 2,
  kClose = 8,
  kPing = 9,
  kPong = 10
};

// Close codes the framing itself uses.
constexpr std::uint16_t kNormal = 1000;
constexpr std::uint16_t kProtocolError = 1002;
constexpr std::uint16_t kNoStatus = 1005;  // a close frame without a code (never sent)
constexpr std::uint16_t kBadData = 1007;   // a text message that is not UTF-8
constexpr std::uint16_t kTooBig = 1009;

// The head of one unmasked frame with FIN set: 2, 4 or 10 bytes.
struct Head {
  std::array<char, 10> bytes{};
  std::uint8_t size = 0;
  std::string_view view() const { return {bytes.data(), size}; }
};
Head frame_head(Op op, std::size_t payload_size);

// A close frame's payload: the code, then the reason (cut to fit the 125 bytes of a control
// frame).
std::string close_payload(std::uint16_t code, std::string_view reason);

// Whether `s` is well-formed UTF-8 (no overlong forms, no surrogates, nothing past U+10FFFF).
bool valid_utf8(std::string_view s);

// What the reader hands over, in the order it arrives.
class FrameHandler {
 public:
  virtual ~FrameHandler() = default;
  // A whole data message (its frames joined, unmasked). `data` is valid during the call only.
  virtual void on_ws_message(std::string_view data, bool text) = 0;
  virtual void on_ws_ping(std::string_view payload) = 0;
  virtual void on_ws_pong() = 0;
  // The client's close frame (`code` kNoStatus when it carried none).
  virtual void on_ws_close(std::uint16_t code) = 0;
  // A protocol error: the connection must be closed with `code`; nothing more is read.
  virtual void on_ws_fail(std::uint16_t code, std::string_view why) = 0;
};

class FrameReader {
 public:
  explicit FrameReader(std::size_t max_message_bytes) : max_message_(max_message_bytes) {}

  // Takes the next bytes from the client. They are unmasked in place: `data` is scratch. Stops
  // at a close frame or a failure (later bytes are ignored).
  void feed(char* data, std::size_t size, FrameHandler& h);
  // Whether a close frame or a failure was seen.
  bool done() const { return done_; }

 private:
  void fail(FrameHandler& h, std::uint16_t code, std::string_view why);
  bool begin_frame(FrameHandler& h);  // the head is complete: checks it
  void end_frame(FrameHandler& h, std::string_view payload);
  void unmask(char* p, std::size_t n);
  void next_frame() {
    head_have_ = 0;
    in_payload_ = false;
  }

  std::size_t max_message_;
  std::array<std::uint8_t, 14> head_{};  // the frame head being read
  std::uint8_t head_have_ = 0;
  std::uint8_t op_ = 0;
  bool in_payload_ = false, fin_ = false, in_message_ = false, message_text_ = false, done_ = false;
  std::array<std::uint8_t, 4> mask_{};
  std::uint8_t mask_at_ = 0;
  std::uint64_t left_ = 0;  // payload bytes of this frame not yet read
  // Only while a message or control frame spans reads: an idle session keeps nothing, not
  // even two empty strings.
  struct Spill {
    std::string partial;  // a message's frames so far
    std::string control;  // a control frame's payload so far
  };
  std::unique_ptr<Spill> spill_;
};

}  // namespace portier::push::ws
