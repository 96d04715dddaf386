// Randomized convergence: many clients on every kind of feed, random edits of every kind,
// random disconnects and cursors; after each round every replica equals a fresh snapshot of
// its feed. PORTIER_SEEDS sets how many rounds (default 200), PORTIER_SEED the first seed.
#include <cstdlib>
#include <random>

#include "client/feed_client.hpp"
#include "fixture.hpp"

namespace portier::testing {
namespace {

using namespace std::chrono_literals;
using client::FeedClient;

int env_int(const char* name, int fallback) {
  const char* v = std::getenv(name);
  return v && *v ? std::atoi(v) : fallback;
}

class Convergence : public ApiTest {
 protected:
  struct Device {
    std::string token;
    std::string feed;
    std::string state;
    std::unique_ptr<FeedClient> client;
  };

  std::unique_ptr<FeedClient> start(const std::string& token, const std::string& feed,
                                    const std::string& state) {
    client::ClientOptions o;
    o.url = "http://127.0.0.1:" + std::to_string(server_.port());
    o.token = token;
    o.feeds = {feed};
    o.state_file = state;
    o.min_backoff = 10ms;
    o.max_backoff = 200ms;
    auto c = std::make_unique<FeedClient>(o);
    c->start();
    return c;
  }

  template <class T>
  const T& pick(const std::vector<T>& v) {
    return v[std::uniform_int_distribution<size_t>(0, v.size() - 1)(rng_)];
  }
  bool coin(int percent) { return std::uniform_int_distribution<int>(0, 99)(rng_) < percent; }
  std::string hhmm() {
    char b[8];
    std::snprintf(b, sizeof b, "%02d:%02d", std::uniform_int_distribution<int>(0, 23)(rng_),
                  std::uniform_int_distribution<int>(0, 3)(rng_) * 15);
    return b;
  }

  // One random edit of some kind. Rejections (409, 422) are part of the game: they must
  // change nothing, and the replicas check that too.
  void random_edit() {
    switch (std::uniform_int_distribution<int>(0, 9)(rng_)) {
      case 0:
      case 1: {  // a grant
        json::object g{{"user_id", pick(users_)}};
        if (coin(70))
          g["door_id"] = pick(doors_);
        else
          g["site_id"] = pick(sites_);
        if (coin(60)) g["schedule_id"] = pick(schedules_);
        if (coin(30)) g["max_uses"] = 5;
        auto r = c().post("/v1/grants", g, owner_);
        if (r.status == 201) grants_.emplace_back(r.obj().at("id").as_string());
        break;
      }
      case 2:
        if (!grants_.empty()) {
          auto id = pick(grants_);
          c().del("/v1/grants/" + id, owner_);
          std::erase(grants_, id);
        }
        break;
      case 3:
        if (!grants_.empty())
          c().patch("/v1/grants/" + pick(grants_),
                    json::object{{"schedule_id",
                                  coin(50) ? json::value(pick(schedules_)) : json::value(nullptr)}},
                    owner_);
        break;
      case 4:
        c().patch(
            "/v1/schedules/" + pick(schedules_),
            json::object{{"windows", json::array{json::object{{"days", json::array{"mon", "fri"}},
                                                              {"start", hhmm()},
                                                              {"end", hhmm()}}}}},
            owner_);
        break;
      case 5:
        c().patch(
            "/v1/doors/" + pick(doors_),
            json::object{{"name", "D" + std::to_string(rng_() % 1000)}, {"site_id", pick(sites_)}},
            owner_);
        break;
      case 6: {
        json::array ds;
        for (const auto& d : doors_)
          if (coin(30)) ds.push_back(json::value(d));
        c().patch("/v1/units/" + pick(units_), json::object{{"door_ids", ds}}, owner_);
        break;
      }
      case 7:
        c().patch("/v1/sites/" + pick(sites_),
                  json::object{{"timezone", coin(50) ? "Europe/Madrid" : "Asia/Kolkata"}}, owner_);
        break;
      case 8:
        c().patch("/v1/users/" + pick(users_),
                  json::object{{"name", "N" + std::to_string(rng_() % 1000)}}, owner_);
        break;
      case 9: {  // a door comes and (if it can) goes
        auto r = c().post("/v1/doors", json::object{{"site_id", pick(sites_)}, {"name", "Temp"}},
                          owner_);
        if (r.status == 201 && coin(50))
          c().del("/v1/doors/" + std::string(r.obj().at("id").as_string()), owner_);
        else if (r.status == 201)
          doors_.emplace_back(r.obj().at("id").as_string());
        break;
      }
    }
  }

  std::mt19937_64 rng_;
  std::vector<std::string> sites_, doors_, units_, users_, schedules_, grants_;
};

TEST_F(Convergence, EveryReplicaEqualsAFreshSnapshot) {
  TempDir dir;
  auto me = c().get("/v1/me", owner_);
  std::string org = std::string(me.obj().at("org").at("id").as_string());
  for (int i = 0; i < 2; ++i) {
    auto [s, d] = site_with_door("S" + std::to_string(i));
    sites_.push_back(s);
    doors_.push_back(d);
    doors_.push_back(create("doors", {{"site_id", s}, {"name", "Back"}}));
    schedules_.push_back(create("schedules", {{"name", "Sched" + std::to_string(i)}}));
  }
  std::vector<Device> devices;
  for (int i = 0; i < 3; ++i) {
    auto [id, token] = person("p" + std::to_string(i) + "@one.test");
    users_.push_back(id);
    devices.push_back({token, "user/" + id, dir.path() + "/p" + std::to_string(i), nullptr});
  }
  for (int i = 0; i < 2; ++i) {
    auto unit = create(
        "units", {{"name", "U" + std::to_string(i)}, {"door_ids", json::array{doors_[i * 2]}}});
    units_.push_back(unit);
    auto cred = c().post("/v1/units/" + unit + "/credentials", json::object{}, owner_);
    devices.push_back({std::string(cred.obj().at("token").as_string()), "unit/" + unit,
                       dir.path() + "/u" + std::to_string(i), nullptr});
  }
  devices.push_back({owner_, "site/" + sites_[0], dir.path() + "/site", nullptr});
  devices.push_back({owner_, "org/" + org, dir.path() + "/org", nullptr});
  for (auto& d : devices) d.client = start(d.token, d.feed, d.state);

  int seeds = env_int("PORTIER_SEEDS", 200), first = env_int("PORTIER_SEED", 1);
  for (int seed = first; seed < first + seeds; ++seed) {
    SCOPED_TRACE("seed " + std::to_string(seed) +
                 " (rerun with PORTIER_SEED=" + std::to_string(seed) + " PORTIER_SEEDS=1)");
    rng_.seed(static_cast<std::uint64_t>(seed));
    for (int step = 0; step < 12; ++step) {
      random_edit();
      if (coin(15)) {  // a device drops and comes back: from its saved cursor, or from nothing
        auto& d = devices[rng_() % devices.size()];
        d.client->stop();
        if (coin(30)) std::remove(d.state.c_str());
        d.client = start(d.token, d.feed, d.state);
      }
    }
    for (auto& d : devices) {
      auto fresh = start(d.token, d.feed, "");
      ASSERT_TRUE(
          fresh->wait_for([&](const FeedClient& c) { return c.replica(d.feed).seq >= 0; }, 10s))
          << d.feed;
      auto truth = fresh->replica(d.feed);
      fresh->stop();
      ASSERT_TRUE(d.client->wait_for(
          [&](const FeedClient& c) { return c.replica(d.feed).seq >= truth.seq; }, 10s))
          << d.feed << " stuck at " << d.client->replica(d.feed).seq << " of " << truth.seq;
      auto held = d.client->replica(d.feed);
      ASSERT_EQ(held.seq, truth.seq) << d.feed;
      ASSERT_EQ(held.records, truth.records) << d.feed;
    }
  }
}

}  // namespace
}  // namespace portier::testing
