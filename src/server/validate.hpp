#pragma once
// Checks and normalizes an entity's fields before they are stored: types, ranges, time zones,
// schedules, and that every id it refers to exists in the same organization. Errors are 422
// and name the field. On PATCH the merged body is validated whole.

#include <boost/json/object.hpp>

#include "store/store.hpp"

namespace portier {

Result<boost::json::object> validate(Kind kind, const boost::json::object& body,
                                     const std::string& org_id, ReadTx& tx);

// Password rules for users (write-only field).
Status validate_password(const boost::json::value& v);

}  // namespace portier
