#pragma once
// Errors as values: every error a user can cause carries a stable code, a message saying
// what to do, the offending field (if any) and the HTTP status it maps to.

#include <cassert>
#include <string>
#include <utility>
#include <variant>

namespace portier {

struct Error {
  int status = 422;
  std::string code;
  std::string message;
  std::string field;
};

inline Error invalid(std::string field, std::string code, std::string message) {
  return Error{422, std::move(code), std::move(message), std::move(field)};
}

// A value or an Error. Like std::expected (C++23), kept minimal.
template <class T>
class [[nodiscard]] Result {
 public:
  Result(T value) : v_(std::move(value)) {}      // NOLINT(google-explicit-constructor)
  Result(Error error) : v_(std::move(error)) {}  // NOLINT(google-explicit-constructor)
  bool ok() const { return v_.index() == 0; }
  explicit operator bool() const { return ok(); }
  // Callers check ok() first; reading the wrong alternative is a programming error.
  T& value() & {
    assert(ok());
    return std::get<0>(v_);
  }
  const T& value() const& {
    assert(ok());
    return std::get<0>(v_);
  }
  T&& value() && {
    assert(ok());
    return std::get<0>(std::move(v_));
  }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }
  const Error& error() const {
    assert(!ok());
    return std::get<1>(v_);
  }

 private:
  std::variant<T, Error> v_;
};

struct Ok {};
using Status = Result<Ok>;
inline Status ok() { return Ok{}; }

}  // namespace portier
