#pragma once
#include <vector>

namespace portier::sqlite {
// Migration i (0-based) takes the schema from user_version i to i+1.
const std::vector<const char*>& migrations();
}  // namespace portier::sqlite
