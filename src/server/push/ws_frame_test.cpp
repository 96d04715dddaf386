// The server's WebSocket framing: client frames in every shape RFC 6455 allows (and the ones
// it forbids), fed whole, byte by byte and in odd chunks.
#include "server/push/ws_frame.hpp"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace portier::push::ws {
namespace {

// A client frame: masked with a fixed key unless `masked` is false.
std::string client_frame(std::uint8_t op, std::string_view payload, bool fin = true,
                         bool masked = true, std::uint8_t first_extra = 0) {
  std::string f;
  f.push_back(static_cast<char>((fin ? 0x80 : 0) | first_extra | op));
  std::uint8_t m = masked ? 0x80 : 0;
  if (payload.size() < 126) {
    f.push_back(static_cast<char>(m | payload.size()));
  } else if (payload.size() <= 0xFFFF) {
    f.push_back(static_cast<char>(m | 126));
    f.push_back(static_cast<char>(payload.size() >> 8));
    f.push_back(static_cast<char>(payload.size() & 0xFF));
  } else {
    f.push_back(static_cast<char>(m | 127));
    for (int i = 7; i >= 0; --i) f.push_back(static_cast<char>((payload.size() >> (8 * i)) & 0xFF));
  }
  const char key[4] = {0x12, 0x34, 0x56, 0x78};
  if (masked) f.append(key, 4);
  for (std::size_t i = 0; i < payload.size(); ++i)
    f.push_back(masked ? static_cast<char>(payload[i] ^ key[i % 4]) : payload[i]);
  return f;
}

std::string close_frame(std::uint16_t code, std::string_view reason = "") {
  return client_frame(8, close_payload(code, reason));
}

// Writes down what the reader hands over, as lines.
struct Log final : FrameHandler {
  std::vector<std::string> seen;
  void on_ws_message(std::string_view d, bool text) override {
    seen.push_back((text ? "text:" : "binary:") + std::string(d));
  }
  void on_ws_ping(std::string_view p) override { seen.push_back("ping:" + std::string(p)); }
  void on_ws_pong() override { seen.emplace_back("pong"); }
  void on_ws_close(std::uint16_t code) override { seen.push_back("close:" + std::to_string(code)); }
  void on_ws_fail(std::uint16_t code, std::string_view) override {
    seen.push_back("fail:" + std::to_string(code));
  }
};

// Feeds `bytes` in chunks of `chunk` (0: all at once).
std::vector<std::string> read(const std::string& bytes, std::size_t chunk = 0,
                              std::size_t max = 64 * 1024) {
  FrameReader r(max);
  Log log;
  std::string copy = bytes;
  std::size_t step = chunk ? chunk : copy.size();
  for (std::size_t at = 0; at < copy.size(); at += step)
    r.feed(copy.data() + at, std::min(step, copy.size() - at), log);
  return log.seen;
}

using Lines = std::vector<std::string>;

TEST(WsFrame, AMaskedTextFrameReadsTheSameInAnyChunking) {
  std::string bytes = client_frame(1, R"({"type":"ack","feed":"user/u1","seq":7})") +
                      client_frame(2, std::string("\x00\x01\xff", 3));
  Lines want{R"(text:{"type":"ack","feed":"user/u1","seq":7})",
             std::string("binary:\x00\x01\xff", 10)};
  for (std::size_t chunk : {0, 1, 2, 3, 5, 7, 13})
    EXPECT_EQ(read(bytes, chunk), want) << "chunk " << chunk;
}

TEST(WsFrame, LongLengthsUseTheirExtendedForms) {
  std::string mid(300, 'a'), big(70000, 'b');
  EXPECT_EQ(read(client_frame(1, mid), 100), Lines{"text:" + mid});
  EXPECT_EQ(read(client_frame(1, big), 4096, 100000), Lines{"text:" + big});
  // The same length in a longer form than it needs is refused.
  std::string f = client_frame(1, "hi");
  std::string padded = f.substr(0, 1) + std::string("\xFE\x00\x02", 3) + f.substr(2);
  EXPECT_EQ(read(padded), Lines{"fail:1002"});
}

TEST(WsFrame, FragmentsJoinAndControlFramesMayComeBetween) {
  std::string bytes = client_frame(1, "he", false) + client_frame(9, "p1") +
                      client_frame(0, "", false) + client_frame(0, "llo", true) +
                      client_frame(10, "") + client_frame(1, "next");
  Lines want{"ping:p1", "text:hello", "pong", "text:next"};
  for (std::size_t chunk : {0, 1, 4}) EXPECT_EQ(read(bytes, chunk), want) << "chunk " << chunk;
}

TEST(WsFrame, ProtocolErrorsFailWith1002AndStopReading) {
  EXPECT_EQ(read(client_frame(1, "x", true, false) + client_frame(1, "y")), Lines{"fail:1002"})
      << "an unmasked client frame";
  EXPECT_EQ(read(client_frame(1, "x", true, true, 0x40)), Lines{"fail:1002"}) << "RSV1";
  EXPECT_EQ(read(client_frame(3, "x")), Lines{"fail:1002"}) << "opcode 3";
  EXPECT_EQ(read(client_frame(0, "x")), Lines{"fail:1002"}) << "continuation first";
  EXPECT_EQ(read(client_frame(1, "a", false) + client_frame(1, "b")), Lines{"fail:1002"})
      << "a new message inside one";
  EXPECT_EQ(read(client_frame(9, "p", false)), Lines{"fail:1002"}) << "a fragmented ping";
  EXPECT_EQ(read(client_frame(9, std::string(126, 'p'))), Lines{"fail:1002"}) << "a long ping";
}

TEST(WsFrame, AMessageOverTheLimitFailsWith1009EvenInFragments) {
  EXPECT_EQ(read(client_frame(1, std::string(101, 'a')), 0, 100), Lines{"fail:1009"});
  EXPECT_EQ(read(client_frame(1, std::string(100, 'a')), 0, 100),
            Lines{"text:" + std::string(100, 'a')});
  EXPECT_EQ(read(client_frame(1, std::string(60, 'a'), false) +
                     client_frame(0, std::string(41, 'a'), true),
                 0, 100),
            Lines{"fail:1009"});
}

TEST(WsFrame, TextMustBeUtf8BinaryNeedNot) {
  std::string bad = "caf\xC3";  // cut inside a character
  EXPECT_EQ(read(client_frame(1, bad)), Lines{"fail:1007"});
  EXPECT_EQ(read(client_frame(2, bad)), Lines{"binary:" + bad});
  EXPECT_EQ(read(client_frame(1, "caf\xC3\xA9")), Lines{"text:caf\xC3\xA9"});
  // Split across fragments, a character is judged whole.
  EXPECT_EQ(read(client_frame(1, "caf\xC3", false) + client_frame(0, "\xA9")),
            Lines{"text:caf\xC3\xA9"});
}

TEST(WsFrame, CloseFramesCarryACodeOrNoneAndEndTheReading) {
  EXPECT_EQ(read(close_frame(1000, "bye") + client_frame(1, "after")), Lines{"close:1000"});
  EXPECT_EQ(read(client_frame(8, "")), Lines{"close:1005"});
  EXPECT_EQ(read(client_frame(8, "\x03")), Lines{"fail:1002"}) << "a one-byte close";
  EXPECT_EQ(read(close_frame(1005)), Lines{"fail:1002"}) << "1005 is never sent";
  EXPECT_EQ(read(close_frame(4001)), Lines{"close:4001"});
  EXPECT_EQ(read(close_frame(1000, "\xFF")), Lines{"fail:1007"});
}

TEST(WsFrame, ServerHeadsAreShortestAndUnmasked) {
  EXPECT_EQ(frame_head(Op::kText, 5).view(), std::string("\x81\x05", 2));
  EXPECT_EQ(frame_head(Op::kText, 126).view(), std::string("\x81\x7E\x00\x7E", 4));
  EXPECT_EQ(frame_head(Op::kPong, 0).view(), std::string("\x8A\x00", 2));
  auto big = frame_head(Op::kText, 0x10000);
  EXPECT_EQ(big.view(), std::string("\x81\x7F\x00\x00\x00\x00\x00\x01\x00\x00", 10));
}

TEST(WsFrame, CloseReasonsAreCutToFitWithoutSplittingACharacter) {
  EXPECT_EQ(close_payload(4001, "slow_consumer"), std::string("\x0F\xA1slow_consumer", 15));
  std::string reason = std::string(122, 'a') + "\xC3\xA9";  // the é would end at byte 124
  auto p = close_payload(1000, reason);
  EXPECT_EQ(p.size(), 2u + 122u);
  EXPECT_TRUE(valid_utf8(p.substr(2)));
}

TEST(WsFrame, Utf8RejectsOverlongsSurrogatesAndPastTheLastCodePoint) {
  EXPECT_TRUE(valid_utf8("plain ascii"));
  EXPECT_TRUE(valid_utf8("\xE2\x82\xAC \xF0\x9F\x9A\xAA"));  // € 🚪
  EXPECT_FALSE(valid_utf8("\xC0\xAF"));                      // overlong '/'
  EXPECT_FALSE(valid_utf8("\xED\xA0\x80"));                  // a surrogate
  EXPECT_FALSE(valid_utf8("\xF4\x90\x80\x80"));              // past U+10FFFF
  EXPECT_FALSE(valid_utf8("\x80"));                          // a lone continuation
}

}  // namespace
}  // namespace portier::push::ws
