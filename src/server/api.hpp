#pragma once
// The REST API under /v1: routes, authentication, roles, JSON in and out. Transport-free:
// it turns a Request into a Response, so it runs on the worker pool behind HttpServer. Most
// routes answer at once; an open answers when the door's unit has.

#include <chrono>
#include <functional>
#include <memory>

#include "bus/bus.hpp"
#include "core/rate_limit.hpp"
#include "core/time.hpp"
#include "server/clock.hpp"
#include "server/devices.hpp"
#include "server/http/http.hpp"
#include "server/metrics.hpp"
#include "store/store.hpp"

namespace portier {

class Doors;

struct ApiOptions {
  std::chrono::seconds token_ttl{std::chrono::hours(24 * 30)};
  int account_max_failures = 5;   // failed logins per account per window
  int address_max_failures = 20;  // failed logins per remote address per window
  std::chrono::seconds login_window{std::chrono::minutes(15)};
  std::chrono::seconds signin_code_ttl{std::chrono::hours(24 * 7)};  // sign-in codes of imports
  std::string metrics_token;  // non-empty: GET /metrics requires it as a bearer token
};

class Api {
 public:
  // `clock` defaults to the system's.
  Api(Store& store, Bus& bus, Metrics& metrics, const ApiOptions& options = {}, Clock clock = {});
  ~Api();

  // Answers through respond, exactly once: before returning, or later from another thread.
  void handle(const Request& req, Respond respond);

  Store& store() { return store_; }
  Bus& bus() { return bus_; }
  // Delivery receipts for GET /v1/devices (set by portierd when the gateway runs).
  void set_devices(DeviceRegistry* d) { devices_ = d; }
  DeviceRegistry* devices() { return devices_; }
  // The open path (set by portierd).
  void set_doors(Doors* d) { doors_ = d; }
  Doors* doors() { return doors_; }
  Instant now() const { return whole_seconds(clock_()); }
  const ApiOptions& options() const { return options_; }
  RateLimiter& account_limiter() { return account_limiter_; }
  RateLimiter& address_limiter() { return address_limiter_; }
  // A real argon2id hash of a random password, verified against when an email is unknown so
  // that a login's timing does not tell whether the account exists.
  const std::string& dummy_hash() const { return dummy_hash_; }

 private:
  Store& store_;
  Bus& bus_;
  DeviceRegistry* devices_ = nullptr;
  Doors* doors_ = nullptr;
  Metrics& metrics_;
  ApiOptions options_;
  Clock clock_;
  RateLimiter account_limiter_;
  RateLimiter address_limiter_;
  std::string dummy_hash_;
};

}  // namespace portier
