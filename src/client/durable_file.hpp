#pragma once
// Replacing a small file so that a crash or a power cut leaves the old one or the new one,
// whole: the SDK's state file, the CLI's credentials and the unit's identity all go through
// here.

#include <sys/types.h>

#include <string>
#include <string_view>

#include "core/result.hpp"

namespace portier::client {

// Writes `contents` to a new temporary file beside `path` (created with `mode`, so a secret
// never sits in a readable file), fsyncs it, renames it over `path`, and fsyncs the
// directory so the rename itself survives. On failure `path` is untouched and the temporary
// file is gone.
Status write_file_atomically(const std::string& path, std::string_view contents,
                             mode_t mode = 0600);

}  // namespace portier::client
