#pragma once
// What the bench reads and writes on the wire, without I/O: the monotonic clock every process
// shares, the tags that mark a measured change, cheap scans of portier frames, the client's
// side of WebSocket framing, and the few MQTT 3.1.1 packets the Mosquitto peer needs.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace portier::bench {

// CLOCK_MONOTONIC in nanoseconds: one clock for every process on the machine, so a send in
// one process and a receipt in another can be subtracted.
std::int64_t now_ns();

// A measured change carries "bench-tag-<number>" somewhere in its bytes (a schedule's or
// user's name, an MQTT payload, a floor line).
inline constexpr std::string_view kTagPrefix = "bench-tag-";
std::string tag_text(std::int64_t tag);
// Every tag in the frame, in order (a snapshot may hold several).
std::vector<std::int64_t> find_tags(std::string_view frame);
// `size` bytes that start with the tag and are padded with 'x' (at least the tag itself).
std::string tagged_payload(std::int64_t tag, std::size_t size);

// The value of `"type":"…"` when the frame starts with it (the server writes type first).
std::string_view frame_type(std::string_view frame);
// The first `"seq":N` of a frame, or nullopt (in change and snapshot frames it is the feed's).
std::optional<std::int64_t> scan_seq(std::string_view frame);
// The first `"epoch":"…"` of a frame, or nullopt.
std::optional<std::string_view> scan_epoch(std::string_view frame);

namespace ws {

// The client's side of RFC 6455 framing after the handshake: it writes masked frames and reads
// the server's unmasked ones.
enum : std::uint8_t {
  kContinuation = 0,
  kText = 1,
  kBinary = 2,
  kClose = 8,
  kPing = 9,
  kPong = 10
};
// One whole frame (FIN set) with the payload masked by `mask`.
std::string client_frame(std::uint8_t opcode, std::string_view payload, std::uint32_t mask);

struct Frame {
  bool fin = true;
  std::uint8_t opcode = 0;
  std::string_view payload;
  std::size_t size = 0;  // bytes the whole frame took in the buffer
};
enum class Parse { complete, incomplete, malformed };
// The first frame in `buf`. Malformed: reserved bits, a masked frame, an unknown opcode, a
// control frame that is fragmented or over 125 bytes, or a payload over max_payload.
Parse next_frame(std::string_view buf, Frame& out, std::size_t max_payload);

}  // namespace ws

namespace mqtt {

// CONNECT with a clean session and no keep-alive, then SUBSCRIBE (packet id 1, QoS 0).
std::string connect_packet(std::string_view client_id);
std::string subscribe_packet(std::string_view topic);
// PUBLISH at QoS 0.
std::string publish_packet(std::string_view topic, std::string_view payload);
std::string disconnect_packet();

struct Packet {
  std::uint8_t type = 0;   // the control packet type, high nibble of the first byte (3 = PUBLISH)
  std::uint8_t flags = 0;  // low nibble
  std::string_view body;   // variable header and payload
  std::size_t size = 0;    // bytes the whole packet took in the buffer
};
enum class Parse { complete, incomplete, malformed };
// The first packet in `buf`.
Parse next_packet(std::string_view buf, Packet& out);
// A QoS 0 PUBLISH body's payload (after the topic), or nullopt when malformed.
std::optional<std::string_view> publish_payload(const Packet& p);

}  // namespace mqtt
}  // namespace portier::bench
