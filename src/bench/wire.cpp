#include "bench/wire.hpp"

#include <time.h>

#include <charconv>

namespace portier::bench {

std::int64_t now_ns() {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<std::int64_t>(ts.tv_sec) * 1'000'000'000 + ts.tv_nsec;
}

std::string tag_text(std::int64_t tag) { return std::string(kTagPrefix) + std::to_string(tag); }

std::vector<std::int64_t> find_tags(std::string_view frame) {
  std::vector<std::int64_t> out;
  for (auto pos = frame.find(kTagPrefix); pos != std::string_view::npos;
       pos = frame.find(kTagPrefix, pos + 1)) {
    const char* begin = frame.data() + pos + kTagPrefix.size();
    std::int64_t v = 0;
    auto [end, ec] = std::from_chars(begin, frame.data() + frame.size(), v);
    if (ec == std::errc() && end != begin) out.push_back(v);
  }
  return out;
}

std::string tagged_payload(std::int64_t tag, std::size_t size) {
  std::string s = tag_text(tag) + " ";
  if (s.size() < size) s.append(size - s.size(), 'x');
  return s;
}

std::string_view frame_type(std::string_view frame) {
  constexpr std::string_view head = R"({"type":")";
  if (frame.substr(0, head.size()) != head) return {};
  auto rest = frame.substr(head.size());
  auto end = rest.find('"');
  return end == std::string_view::npos ? std::string_view{} : rest.substr(0, end);
}

std::optional<std::int64_t> scan_seq(std::string_view frame) {
  constexpr std::string_view key = R"("seq":)";
  auto pos = frame.find(key);
  if (pos == std::string_view::npos) return std::nullopt;
  const char* begin = frame.data() + pos + key.size();
  std::int64_t v = 0;
  auto [end, ec] = std::from_chars(begin, frame.data() + frame.size(), v);
  if (ec != std::errc() || end == begin) return std::nullopt;
  return v;
}

std::optional<std::string_view> scan_epoch(std::string_view frame) {
  constexpr std::string_view key = R"("epoch":")";
  auto pos = frame.find(key);
  if (pos == std::string_view::npos) return std::nullopt;
  auto rest = frame.substr(pos + key.size());
  auto end = rest.find('"');
  if (end == std::string_view::npos) return std::nullopt;
  return rest.substr(0, end);
}

namespace ws {

std::string client_frame(std::uint8_t opcode, std::string_view payload, std::uint32_t mask) {
  std::string out;
  out.reserve(payload.size() + 14);
  out += static_cast<char>(0x80 | opcode);
  auto n = payload.size();
  if (n < 126) {
    out += static_cast<char>(0x80 | n);
  } else if (n < 65536) {
    out += static_cast<char>(0x80 | 126);
    for (int shift = 8; shift >= 0; shift -= 8) out += static_cast<char>((n >> shift) & 0xff);
  } else {
    out += static_cast<char>(0x80 | 127);
    for (int shift = 56; shift >= 0; shift -= 8)
      out += static_cast<char>((static_cast<std::uint64_t>(n) >> shift) & 0xff);
  }
  char key[4];
  for (int i = 0; i < 4; ++i) key[i] = static_cast<char>((mask >> (24 - 8 * i)) & 0xff);
  out.append(key, 4);
  for (std::size_t i = 0; i < n; ++i) out += static_cast<char>(payload[i] ^ key[i % 4]);
  return out;
}

Parse next_frame(std::string_view buf, Frame& out, std::size_t max_payload) {
  if (buf.size() < 2) return Parse::incomplete;
  auto b0 = static_cast<std::uint8_t>(buf[0]), b1 = static_cast<std::uint8_t>(buf[1]);
  if ((b0 & 0x70) != 0 || (b1 & 0x80) != 0) return Parse::malformed;
  out.fin = (b0 & 0x80) != 0;
  out.opcode = b0 & 0x0f;
  bool control = out.opcode >= 8;
  if (out.opcode > kBinary && !(control && out.opcode <= kPong)) return Parse::malformed;
  std::uint64_t n = b1 & 0x7f;
  std::size_t head = 2;
  if (n == 126 || n == 127) {
    std::size_t bytes = n == 126 ? 2 : 8;
    if (buf.size() < 2 + bytes) return Parse::incomplete;
    n = 0;
    for (std::size_t i = 0; i < bytes; ++i) n = (n << 8) | static_cast<std::uint8_t>(buf[2 + i]);
    head += bytes;
  }
  if (control && (!out.fin || n > 125)) return Parse::malformed;
  if (n > max_payload) return Parse::malformed;
  if (buf.size() - head < n) return Parse::incomplete;
  out.payload = buf.substr(head, static_cast<std::size_t>(n));
  out.size = head + static_cast<std::size_t>(n);
  return Parse::complete;
}

}  // namespace ws

namespace mqtt {
namespace {

void put_length(std::string& out, std::size_t n) {
  do {
    auto byte = static_cast<unsigned char>(n % 128);
    n /= 128;
    if (n > 0) byte |= 0x80;
    out.push_back(static_cast<char>(byte));
  } while (n > 0);
}

void put_u16(std::string& out, std::size_t v) {
  out.push_back(static_cast<char>((v >> 8) & 0xff));
  out.push_back(static_cast<char>(v & 0xff));
}

void put_string(std::string& out, std::string_view s) {
  put_u16(out, s.size());
  out.append(s);
}

std::string packet(std::uint8_t first, const std::string& body) {
  std::string out(1, static_cast<char>(first));
  put_length(out, body.size());
  return out + body;
}

}  // namespace

std::string connect_packet(std::string_view client_id) {
  std::string body;
  put_string(body, "MQTT");
  body.push_back(4);     // protocol level 3.1.1
  body.push_back(0x02);  // clean session
  put_u16(body, 0);      // keep-alive off: an idle subscriber sends nothing
  put_string(body, client_id);
  return packet(0x10, body);
}

std::string subscribe_packet(std::string_view topic) {
  std::string body;
  put_u16(body, 1);
  put_string(body, topic);
  body.push_back(0);  // QoS 0
  return packet(0x82, body);
}

std::string publish_packet(std::string_view topic, std::string_view payload) {
  std::string body;
  put_string(body, topic);
  body.append(payload);
  return packet(0x30, body);
}

std::string disconnect_packet() { return std::string("\xe0\x00", 2); }

Parse next_packet(std::string_view buf, Packet& out) {
  if (buf.size() < 2) return Parse::incomplete;
  std::size_t length = 0, multiplier = 1, i = 1;
  for (;; ++i) {
    if (i > 4) return Parse::malformed;
    if (i >= buf.size()) return Parse::incomplete;
    auto byte = static_cast<unsigned char>(buf[i]);
    length += (byte & 0x7f) * multiplier;
    multiplier *= 128;
    if ((byte & 0x80) == 0) break;
  }
  std::size_t header = i + 1;
  if (buf.size() < header + length) return Parse::incomplete;
  auto first = static_cast<unsigned char>(buf[0]);
  out.type = static_cast<std::uint8_t>(first >> 4);
  out.flags = static_cast<std::uint8_t>(first & 0x0f);
  out.body = buf.substr(header, length);
  out.size = header + length;
  return Parse::complete;
}

std::optional<std::string_view> publish_payload(const Packet& p) {
  if (p.type != 3 || p.body.size() < 2) return std::nullopt;
  std::size_t topic =
      (static_cast<unsigned char>(p.body[0]) << 8) | static_cast<unsigned char>(p.body[1]);
  std::size_t skip = 2 + topic + (((p.flags >> 1) & 3) != 0 ? 2 : 0);  // QoS > 0: packet id
  if (p.body.size() < skip) return std::nullopt;
  return p.body.substr(skip);
}

}  // namespace mqtt
}  // namespace portier::bench
