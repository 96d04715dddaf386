#pragma once
// Failure injection for SQLite files: a VFS over the system's that fails writes on demand
// (SQLITE_FULL, as a full disk), installed as the process's default so the code under test
// opens its files through it unchanged.

namespace portier::testing::faulty_vfs {

// Installs the VFS as the default (once per process; later calls do nothing).
void install();
// From now on every write to any file (database, WAL) fails, or works again.
void fail_writes(bool on);
// Writes refused so far.
long refused();

}  // namespace portier::testing::faulty_vfs
