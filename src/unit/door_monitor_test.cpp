#include "unit/door_monitor.hpp"

#include <gtest/gtest.h>

namespace portier::unit {
namespace {

using namespace std::chrono_literals;
using T = DoorMonitor::Clock::time_point;

std::vector<std::string> names(const std::vector<DoorEvent>& v) {
  std::vector<std::string> out;
  for (const auto& e : v) out.push_back(e.event + (e.command_id.empty() ? "" : ":" + e.command_id));
  return out;
}

TEST(DoorMonitor, FirstReadingIsTheStartingState) {
  DoorMonitor m(30s);
  EXPECT_TRUE(m.observe({{"d", true}}, T{}).empty());
  EXPECT_EQ(names(m.observe({{"d", false}}, T{} + 1s)), std::vector<std::string>{"door_closed"});
}

// Issue 10 §6: a sim sensor file that did not exist at start and was then written `open` gave
// no opening, but a `door_closed` later. A sensor that appears after the first reading was
// closed until then.
TEST(DoorMonitor, ASensorThatAppearsLaterStartsClosed) {
  DoorMonitor m(30s, 5s);
  EXPECT_TRUE(m.observe({}, T{}).empty());
  EXPECT_EQ(names(m.observe({{"d", true}}, T{} + 1s)), std::vector<std::string>{"door_forced"});
  EXPECT_EQ(names(m.observe({{"d", false}}, T{} + 2s)), std::vector<std::string>{"door_closed"});
  // Appearing closed is no event; appearing open during a command's pulse is that opening.
  EXPECT_TRUE(m.observe({{"d", false}, {"e", false}}, T{} + 3s).empty());
  m.pulsed("f", "cmd_1", T{} + 3s, 1000);
  EXPECT_EQ(names(m.observe({{"f", true}}, T{} + 4s)),
            std::vector<std::string>{"door_opened:cmd_1"});
}

TEST(DoorMonitor, OpeningDuringAPulseIsOpenedByThatCommand) {
  DoorMonitor m(30s, 5s);
  m.observe({{"d", false}}, T{});
  m.pulsed("d", "cmd_1", T{} + 1s, 1000);
  EXPECT_EQ(names(m.observe({{"d", true}}, T{} + 2s)),
            std::vector<std::string>{"door_opened:cmd_1"});
  EXPECT_EQ(names(m.observe({{"d", false}}, T{} + 3s)), std::vector<std::string>{"door_closed"});
  // The same command does not account for a second opening.
  EXPECT_EQ(names(m.observe({{"d", true}}, T{} + 4s)), std::vector<std::string>{"door_forced"});
}

TEST(DoorMonitor, OpeningAfterThePulseAndGraceIsForced) {
  DoorMonitor m(30s, 5s);
  m.observe({{"d", false}}, T{});
  m.pulsed("d", "cmd_1", T{}, 1000);
  EXPECT_EQ(names(m.observe({{"d", true}}, T{} + 7s)), std::vector<std::string>{"door_forced"});
}

TEST(DoorMonitor, HeldOpenIsReportedOncePerOpening) {
  DoorMonitor m(10s);
  m.observe({{"d", false}}, T{});
  EXPECT_EQ(names(m.observe({{"d", true}}, T{} + 1s)), std::vector<std::string>{"door_forced"});
  EXPECT_TRUE(m.observe({{"d", true}}, T{} + 10s).empty());
  EXPECT_EQ(names(m.observe({{"d", true}}, T{} + 11s)), std::vector<std::string>{"door_held_open"});
  EXPECT_TRUE(m.observe({{"d", true}}, T{} + 20s).empty());
  EXPECT_EQ(names(m.observe({{"d", false}}, T{} + 21s)), std::vector<std::string>{"door_closed"});
}

TEST(DoorMonitor, DoorsAreIndependent) {
  DoorMonitor m(30s);
  m.observe({{"a", false}, {"b", false}}, T{});
  m.pulsed("a", "cmd_a", T{}, 1000);
  auto ev = m.observe({{"a", true}, {"b", true}}, T{} + 500ms);
  ASSERT_EQ(ev.size(), 2u);
  EXPECT_EQ(ev[0].door, "a");
  EXPECT_EQ(ev[0].event, "door_opened");
  EXPECT_EQ(ev[1].door, "b");
  EXPECT_EQ(ev[1].event, "door_forced");
}

}  // namespace
}  // namespace portier::unit
