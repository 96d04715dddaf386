#pragma once
// Creating organizations: `portierd init` and the demo site.

#include <string>

#include "core/time.hpp"
#include "store/store.hpp"

namespace portier {

// Creates an organization and its first owner; returns the owner's id.
Result<std::string> create_org(Store& store, const std::string& org_name, const std::string& email,
                               const std::string& owner_name, const std::string& password,
                               Instant now);

// Seeds the demo organization once (site "HQ" in Europe/Madrid, doors, a schedule, an admin and
// two members with grants); returns the demo logins as text lines "email password role".
// Passwords are random, kept in DATA/demo-logins.txt (mode 0600) so later starts can print them.
Result<std::string> seed_demo(Store& store, const std::string& data_dir, Instant now);

}  // namespace portier
