#pragma once
// `portier`: admin and user operations from a terminal, and `portier watch`.

namespace portier::cli {

// Exit codes follow the API's error classes (see README.md, "The CLI").
enum Exit {
  kOk = 0,
  kFailed = 1,
  kUsage = 2,
  kUnreachable = 3,
  kUnauthorized = 4,  // 401
  kForbidden = 5,     // 403
  kNotFound = 6,      // 404
  kConflict = 7,      // 409
  kInvalid = 8,       // 400, 413, 415, 422
  kRateLimited = 9,   // 429
  kServerError = 10,  // 5xx
};

int run(int argc, char** argv);

}  // namespace portier::cli
