// The bench's pure parts: tags, frame scans, the MQTT codec and the statistics its figures
// come from.
#include <gtest/gtest.h>

#include "bench/stats.hpp"
#include "bench/wire.hpp"

namespace portier::bench {
namespace {

TEST(Wire, FindsEveryTagInAFrame) {
  auto frame =
      R"({"records":[{"name":"bench-tag-12"},{"name":"x bench-tag-7 y"}],"n":"bench-tag-"})";
  EXPECT_EQ(find_tags(frame), (std::vector<std::int64_t>{12, 7}));
  EXPECT_TRUE(find_tags(R"({"name":"bench schedule"})").empty());
}

TEST(Wire, TaggedPayloadHasTheSizeAskedAndCarriesTheTag) {
  auto p = tagged_payload(42, 300);
  EXPECT_EQ(p.size(), 300u);
  EXPECT_EQ(find_tags(p), std::vector<std::int64_t>{42});
  EXPECT_EQ(find_tags(tagged_payload(42, 1)), std::vector<std::int64_t>{42});  // never cut
}

TEST(Wire, ScansChangeAndSnapshotFrames) {
  auto change =
      R"({"type":"change","feed":"user/u1","epoch":"e9","seq":45,"change":{"op":"put","record":{"seq":3}}})";
  EXPECT_EQ(frame_type(change), "change");
  EXPECT_EQ(scan_seq(change), 45);
  EXPECT_EQ(scan_epoch(change), "e9");
  EXPECT_EQ(frame_type(R"({"feed":"x","type":"change"})"), "");  // type not first: no guess
  EXPECT_EQ(scan_seq(R"({"type":"ready"})"), std::nullopt);
  EXPECT_EQ(scan_seq(R"({"type":"change","seq":x})"), std::nullopt);
}

// A server's frame: unmasked.
std::string server_frame(std::uint8_t first, std::string_view payload) {
  std::string out(1, static_cast<char>(first));
  auto n = payload.size();
  if (n < 126) {
    out += static_cast<char>(n);
  } else if (n < 65536) {
    out += static_cast<char>(126);
    out += static_cast<char>(n >> 8);
    out += static_cast<char>(n & 0xff);
  } else {
    out += static_cast<char>(127);
    for (int shift = 56; shift >= 0; shift -= 8)
      out += static_cast<char>((static_cast<std::uint64_t>(n) >> shift) & 0xff);
  }
  return out + std::string(payload);
}

TEST(Ws, ClientFramesAreMaskedWithTheirKey) {
  auto f = ws::client_frame(ws::kText, R"({"type":"ack"})", 0x01020304);
  ASSERT_EQ(f.size(), 2u + 4u + 14u);
  EXPECT_EQ(static_cast<std::uint8_t>(f[0]), 0x81);  // FIN, text
  EXPECT_EQ(static_cast<std::uint8_t>(f[1]), 0x80 | 14);
  EXPECT_EQ(f.substr(2, 4), std::string("\x01\x02\x03\x04", 4));
  std::string clear;
  for (std::size_t i = 0; i < 14; ++i) clear += static_cast<char>(f[6 + i] ^ f[2 + i % 4]);
  EXPECT_EQ(clear, R"({"type":"ack"})");
  auto big = ws::client_frame(ws::kText, std::string(300, 'a'), 0);
  EXPECT_EQ(static_cast<std::uint8_t>(big[1]), 0x80 | 126);
  EXPECT_EQ(big.size(), 2u + 2u + 4u + 300u);
  EXPECT_EQ(ws::client_frame(ws::kText, std::string(70000, 'a'), 0).size(), 2u + 8u + 4u + 70000u);
}

TEST(Ws, ServerFramesParseWholeSplitAndBackToBack) {
  auto a = server_frame(0x81, "hello");
  auto b = server_frame(0x81, std::string(300, 'b'));
  auto c = server_frame(0x81, std::string(70000, 'c'));
  auto all = a + b + c;
  ws::Frame f;
  std::size_t at = 0;
  for (const auto& [size, payload] : std::vector<std::pair<std::size_t, std::size_t>>{
           {a.size(), 5}, {b.size(), 300}, {c.size(), 70000}}) {
    ASSERT_EQ(ws::next_frame(std::string_view(all).substr(at), f, 1 << 20), ws::Parse::complete);
    EXPECT_EQ(f.size, size);
    EXPECT_EQ(f.payload.size(), payload);
    EXPECT_TRUE(f.fin);
    EXPECT_EQ(f.opcode, ws::kText);
    at += f.size;
  }
  EXPECT_EQ(at, all.size());
  // Every cut short of the whole frame is incomplete, never malformed.
  for (std::size_t n = 0; n < b.size(); ++n)
    EXPECT_EQ(ws::next_frame(std::string_view(b).substr(0, n), f, 1 << 20), ws::Parse::incomplete)
        << n;
  // A fragment, then its continuation.
  ASSERT_EQ(ws::next_frame(server_frame(0x01, "he"), f, 100), ws::Parse::complete);
  EXPECT_FALSE(f.fin);
  ASSERT_EQ(ws::next_frame(server_frame(0x80, "llo"), f, 100), ws::Parse::complete);
  EXPECT_EQ(f.opcode, ws::kContinuation);
}

TEST(Ws, BrokenServerFramesAreMalformed) {
  ws::Frame f;
  auto masked = server_frame(0x81, "x");
  masked[1] = static_cast<char>(masked[1] | 0x80);
  EXPECT_EQ(ws::next_frame(masked, f, 100), ws::Parse::malformed);
  EXPECT_EQ(ws::next_frame(server_frame(0xC1, "x"), f, 100), ws::Parse::malformed);  // RSV1
  EXPECT_EQ(ws::next_frame(server_frame(0x83, "x"), f, 100), ws::Parse::malformed);  // opcode 3
  EXPECT_EQ(ws::next_frame(server_frame(0x09, "x"), f, 100), ws::Parse::malformed);  // split ping
  EXPECT_EQ(ws::next_frame(server_frame(0x89, std::string(126, 'p')), f, 1000),
            ws::Parse::malformed);
  EXPECT_EQ(ws::next_frame(server_frame(0x81, std::string(101, 't')), f, 100),
            ws::Parse::malformed);
  ASSERT_EQ(ws::next_frame(server_frame(0x88, std::string("\x03\xe9", 2)), f, 100),
            ws::Parse::complete);
  EXPECT_EQ(f.opcode, ws::kClose);
}

TEST(Mqtt, PublishRoundTripsThroughTheParser) {
  std::string payload(300, 'p');
  auto bytes = mqtt::publish_packet("bench/fanout", payload);
  // 300 + 2 + 12 = 314 bytes of body: a two-byte remaining length.
  EXPECT_EQ(bytes.size(), 1u + 2u + 314u);
  mqtt::Packet p;
  ASSERT_EQ(mqtt::next_packet(bytes, p), mqtt::Parse::complete);
  EXPECT_EQ(p.type, 3);
  EXPECT_EQ(p.size, bytes.size());
  EXPECT_EQ(mqtt::publish_payload(p), payload);
  EXPECT_EQ(mqtt::next_packet(std::string_view(bytes).substr(0, 100), p), mqtt::Parse::incomplete);
}

TEST(Mqtt, ConnectAndSubscribeAreWellFormed) {
  auto c = mqtt::connect_packet("abc");
  EXPECT_EQ(c, std::string("\x10\x0f\x00\x04MQTT\x04\x02\x00\x00\x00\x03"
                           "abc",
                           17));
  auto s = mqtt::subscribe_packet("t/x");
  EXPECT_EQ(s, std::string("\x82\x08\x00\x01\x00\x03t/x\x00", 10));
}

TEST(Mqtt, TwoPacketsInOneReadAndAMalformedLength) {
  auto both = std::string("\x20\x02\x00\x00", 4) + std::string("\x90\x03\x00\x01\x00", 5);
  mqtt::Packet p;
  ASSERT_EQ(mqtt::next_packet(both, p), mqtt::Parse::complete);
  EXPECT_EQ(p.type, 2);
  ASSERT_EQ(mqtt::next_packet(std::string_view(both).substr(p.size), p), mqtt::Parse::complete);
  EXPECT_EQ(p.type, 9);
  EXPECT_EQ(mqtt::next_packet(std::string("\x30\xff\xff\xff\xff\x01", 6), p),
            mqtt::Parse::malformed);
}

TEST(Stats, NearestRankPercentiles) {
  std::vector<double> v;
  for (int i = 100; i >= 1; --i) v.push_back(i);
  auto s = summarize(v, 2);
  EXPECT_EQ(s.count, 100u);
  EXPECT_EQ(s.lost, 2u);
  EXPECT_EQ(s.p50, 50);
  EXPECT_EQ(s.p90, 90);
  EXPECT_EQ(s.p99, 99);
  EXPECT_EQ(s.max, 100);
  EXPECT_EQ(summarize({}).p99, 0);
}

TEST(Stats, MedianOfRunsIsAMeasuredValueAndLossesAdd) {
  EXPECT_EQ(median({5, 1, 3}), 3);
  EXPECT_EQ(median({4, 1, 3, 2}), 2);  // the lower middle: a value some run really had
  Summary a{.count = 10, .lost = 0, .p50 = 1, .p90 = 2, .p99 = 3, .max = 4};
  Summary b{.count = 10, .lost = 1, .p50 = 5, .p90 = 6, .p99 = 7, .max = 8};
  Summary c{.count = 10, .lost = 2, .p50 = 3, .p90 = 4, .p99 = 5, .max = 6};
  auto m = median_summary({a, b, c});
  EXPECT_EQ(m.p50, 3);
  EXPECT_EQ(m.max, 6);
  EXPECT_EQ(m.lost, 3u);
}

}  // namespace
}  // namespace portier::bench
