#pragma once
// Seeds an organization through the documented API only: users with their grants in bulk
// (POST /v1/import, then one sign-in code per user exchanged at POST /v1/auth/code), or, on
// a server without the import, one POST /v1/users and /v1/grants per user with the sessions
// reading the users' feeds with the owner's token. Units are enrolled like real ones.

#include <functional>
#include <string>
#include <vector>

namespace portier::bench {

struct SeedPlan {
  std::size_t members = 0;  // users with one grant each, on one door, with one shared schedule
  std::size_t apps = 0;     // users granted the whole open site (they open doors)
  std::size_t units = 0;    // units, each driving one door of the open site
  bool api_only = false;    // never use the import, even when the server has it
  int connections = 4;      // parallel HTTP connections for the per-user requests
  std::size_t import_chunk = 5000;  // users per import request (halved on 413)
};

struct Account {
  std::string id, token;
};

struct World {
  std::string owner_token;
  std::string site_id, door_id, schedule_id;
  std::vector<Account> members;  // token: her own, or the owner's (see own_tokens)
  std::string open_site_id;
  std::vector<std::string> open_doors;
  std::vector<Account> apps;   // their own tokens
  std::vector<Account> units;  // unit credentials
  std::string seeding;         // "import" or "api"
  bool own_tokens = false;
  double import_ms = 0;  // the import requests (members and apps)
  double signin_ms = 0;  // exchanging the sign-in codes
  double total_ms = 0;
};

inline constexpr const char* kOwnerEmail = "owner@bench.test";
inline constexpr const char* kOwnerPassword = "bench owner password";

World seed(const std::string& host, unsigned short port, const SeedPlan& plan,
           const std::function<void(const std::string&)>& log);

}  // namespace portier::bench
