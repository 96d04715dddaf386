#pragma once
// The one shape of an error answer (docs/api.md "Errors"), built here for REST, the open path,
// the import and the HTTP layer alike: {"error": {"code", "message", "field"}}, where a
// route may add members of its own to the inner object (an open's "reason", an import's
// "rows").

#include <boost/json/object.hpp>
#include <string_view>

#include "core/result.hpp"

namespace portier {

inline boost::json::object error_body(std::string_view code, std::string_view message,
                                      std::string_view field = "") {
  return boost::json::object{
      {"error", boost::json::object{{"code", code}, {"message", message}, {"field", field}}}};
}

inline boost::json::object error_body(const Error& e) {
  return error_body(e.code, e.message, e.field);
}

}  // namespace portier
