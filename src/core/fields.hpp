#pragma once
// Reading fields of stored records (validated JSON objects), with a fallback when absent.

#include <boost/json/object.hpp>
#include <string>

namespace portier {

// The string field, or "" when absent or not a string.
inline std::string str_field(const boost::json::object& o, const char* key) {
  auto it = o.find(key);
  return it != o.end() && it->value().is_string() ? std::string(it->value().as_string()) : "";
}

// The boolean field, or false when absent or not a boolean.
inline bool bool_field(const boost::json::object& o, const char* key) {
  auto it = o.find(key);
  return it != o.end() && it->value().is_bool() && it->value().as_bool();
}

}  // namespace portier
