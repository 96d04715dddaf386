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
