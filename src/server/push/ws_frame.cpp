#include "server/push/ws_frame.hpp"

#include <algorithm>

namespace portier::push::ws {

Head frame_head(Op op, std::size_t payload_size) {
  Head h;
  h.bytes[0] = static_cast<char>(0x80 | static_cast<std::uint8_t>(op));
  if (payload_size < 126) {
    h.bytes[1] = static_cast<char>(payload_size);
    h.size = 2;
  } else if (payload_size <= 0xFFFF) {
    h.bytes[1] = 126;
    h.bytes[2] = static_cast<char>(payload_size >> 8);
    h.bytes[3] = static_cast<char>(payload_size & 0xFF);
    h.size = 4;
  } else {
    h.bytes[1] = 127;
    auto n = static_cast<std::uint64_t>(payload_size);
    for (int i = 0; i < 8; ++i) h.bytes[2 + i] = static_cast<char>((n >> (56 - 8 * i)) & 0xFF);
    h.size = 10;
  }
  return h;
}

std::string close_payload(std::uint16_t code, std::string_view reason) {
  constexpr std::size_t kMaxReason = 125 - 2;
  if (reason.size() > kMaxReason) {
    std::size_t cut = kMaxReason;
    // Never end inside a multi-byte character.
    while (cut > 0 && (static_cast<std::uint8_t>(reason[cut]) & 0xC0) == 0x80) --cut;
    reason = reason.substr(0, cut);
  }
  std::string p;
  p.reserve(2 + reason.size());
  p.push_back(static_cast<char>(code >> 8));
  p.push_back(static_cast<char>(code & 0xFF));
  p.append(reason);
  return p;
}

bool valid_utf8(std::string_view s) {
  std::size_t i = 0;
  const std::size_t n = s.size();
  while (i < n) {
    auto c = static_cast<std::uint8_t>(s[i]);
    if (c < 0x80) {
      ++i;
      continue;
    }
    std::size_t len = 0;
    std::uint32_t cp = 0, min = 0;
    if ((c & 0xE0) == 0xC0) {
      len = 2, cp = c & 0x1F, min = 0x80;
    } else if ((c & 0xF0) == 0xE0) {
      len = 3, cp = c & 0x0F, min = 0x800;
    } else if ((c & 0xF8) == 0xF0) {
      len = 4, cp = c & 0x07, min = 0x10000;
    } else {
      return false;
    }
    if (n - i < len) return false;
    for (std::size_t k = 1; k < len; ++k) {
      auto cc = static_cast<std::uint8_t>(s[i + k]);
      if ((cc & 0xC0) != 0x80) return false;
      cp = (cp << 6) | (cc & 0x3F);
    }
    if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return false;
    i += len;
  }
  return true;
}

namespace {

bool is_control(std::uint8_t op) { return op >= 8; }

std::size_t head_size(const std::array<std::uint8_t, 14>& h) {
  std::uint8_t len7 = h[1] & 0x7F;
  std::size_t size = 2 + (len7 == 126 ? 2 : len7 == 127 ? 8 : 0);
  return size + ((h[1] & 0x80) ? 4 : 0);
}

bool valid_close_code(std::uint16_t c) {
  return (c >= 1000 && c <= 1003) || (c >= 1007 && c <= 1011) || (c >= 3000 && c <= 4999);
}

}  // namespace

void FrameReader::fail(FrameHandler& h, std::uint16_t code, std::string_view why) {
  done_ = true;
  spill_.reset();
  h.on_ws_fail(code, why);
}

void FrameReader::unmask(char* p, std::size_t n) {
  for (std::size_t i = 0; i < n; ++i) {
    p[i] = static_cast<char>(static_cast<std::uint8_t>(p[i]) ^ mask_[mask_at_]);
    mask_at_ = (mask_at_ + 1) & 3;
  }
}

bool FrameReader::begin_frame(FrameHandler& h) {
  fin_ = (head_[0] & 0x80) != 0;
  op_ = head_[0] & 0x0F;
  if (head_[0] & 0x70) return fail(h, kProtocolError, "reserved bits set"), false;
  if (!(head_[1] & 0x80)) return fail(h, kProtocolError, "client frames are masked"), false;
  std::uint8_t len7 = head_[1] & 0x7F;
  std::size_t at = 2;
  if (len7 == 126) {
    left_ = (std::uint64_t{head_[2]} << 8) | head_[3];
    at = 4;
    if (left_ < 126) return fail(h, kProtocolError, "length not in its shortest form"), false;
  } else if (len7 == 127) {
    left_ = 0;
    for (int i = 0; i < 8; ++i) left_ = (left_ << 8) | head_[2 + static_cast<std::size_t>(i)];
    at = 10;
    if (left_ <= 0xFFFF || (left_ >> 63))
      return fail(h, kProtocolError, "length not in its shortest form"), false;
  } else {
    left_ = len7;
  }
  std::copy_n(head_.begin() + static_cast<std::ptrdiff_t>(at), 4, mask_.begin());
  mask_at_ = 0;
  switch (op_) {
    case 0:
      if (!in_message_) return fail(h, kProtocolError, "continuation outside a message"), false;
      break;
    case 1:
    case 2:
      if (in_message_) return fail(h, kProtocolError, "a new message inside a message"), false;
      in_message_ = true;
      message_text_ = op_ == 1;
      break;
    case 8:
    case 9:
    case 10:
      if (!fin_ || left_ > 125) return fail(h, kProtocolError, "bad control frame"), false;
      return true;
    default:
      return fail(h, kProtocolError, "unknown opcode"), false;
  }
  if (left_ > max_message_ || (spill_ ? spill_->partial.size() : 0) + left_ > max_message_)
    return fail(h, kTooBig, "message too big"), false;
  return true;
}

void FrameReader::end_frame(FrameHandler& h, std::string_view payload) {
  next_frame();
  if (!is_control(op_)) {
    if (!fin_) return;
    in_message_ = false;
    if (message_text_ && !valid_utf8(payload)) return fail(h, kBadData, "text is not UTF-8");
    return h.on_ws_message(payload, message_text_);
  }
  switch (op_) {
    case 8: {
      std::uint16_t code = kNoStatus;
      if (payload.size() == 1) return fail(h, kProtocolError, "bad close frame");
      if (payload.size() >= 2) {
        code = static_cast<std::uint16_t>((static_cast<std::uint8_t>(payload[0]) << 8) |
                                          static_cast<std::uint8_t>(payload[1]));
        if (!valid_close_code(code)) return fail(h, kProtocolError, "bad close code");
        if (!valid_utf8(payload.substr(2))) return fail(h, kBadData, "close reason is not UTF-8");
      }
      done_ = true;
      spill_.reset();
      return h.on_ws_close(code);
    }
    case 9:
      return h.on_ws_ping(payload);
    default:
      return h.on_ws_pong();
  }
}

void FrameReader::feed(char* data, std::size_t size, FrameHandler& h) {
  while (!done_) {
    if (!in_payload_) {
      // The head: 2 bytes, then as many more as they say.
      for (int part = 0; part < 2; ++part) {
        std::size_t need = part == 0 ? 2 : head_size(head_);
        if (head_have_ >= need) continue;
        std::size_t take = std::min(need - head_have_, size);
        std::copy_n(data, take, head_.begin() + head_have_);
        head_have_ = static_cast<std::uint8_t>(head_have_ + take);
        data += take;
        size -= take;
        if (head_have_ < need) return;
      }
      if (!begin_frame(h)) return;
      in_payload_ = true;
    }
    if (size == 0 && left_ > 0) return;
    // The payload (maybe empty).
    std::size_t take = static_cast<std::size_t>(std::min<std::uint64_t>(left_, size));
    unmask(data, take);
    std::string_view chunk(data, take);
    data += take;
    size -= take;
    left_ -= take;
    bool kept = spill_ && !(is_control(op_) ? spill_->control : spill_->partial).empty();
    if (left_ == 0 && !kept && (is_control(op_) || fin_)) {
      end_frame(h, chunk);  // the common case: a whole frame in one read, no copy
      continue;
    }
    if (!spill_) spill_ = std::make_unique<Spill>();
    std::string& keep = is_control(op_) ? spill_->control : spill_->partial;
    keep.append(chunk);
    if (left_ > 0) return;  // the read ended inside the payload
    if (!is_control(op_) && !fin_) {
      next_frame();  // the message goes on in a continuation frame
      continue;
    }
    std::string whole = std::move(keep);
    keep = {};
    if (spill_->partial.empty() && spill_->control.empty()) spill_.reset();
    end_frame(h, whole);
  }
}

}  // namespace portier::push::ws
