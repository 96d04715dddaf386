#pragma once
// Reading fields of stored records (validated JSON objects), with a fallback when absent:
// the one place a record's body is read by hand (an absent or mistyped field never throws).

#include <boost/json/object.hpp>
#include <string>
#include <vector>

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

// The strings of an array field (door_ids, site_ids, group_ids), in order; none when absent
// or not an array, and a member that is not a string is skipped.
inline std::vector<std::string> str_list_field(const boost::json::object& o, const char* key) {
  std::vector<std::string> out;
  auto it = o.find(key);
  if (it != o.end() && it->value().is_array())
    for (const auto& v : it->value().as_array())
      if (v.is_string()) out.emplace_back(v.as_string());
  return out;
}

}  // namespace portier
