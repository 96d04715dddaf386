#include "client/durable_file.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <vector>

namespace portier::client {

namespace {

Error io_error(const std::string& doing, const std::string& path, int err) {
  return Error{500, "io_error", "cannot " + doing + " " + path + ": " + std::strerror(err), ""};
}

std::string parent_of(const std::string& path) {
  auto slash = path.rfind('/');
  if (slash == std::string::npos) return ".";
  return slash == 0 ? "/" : path.substr(0, slash);
}

}  // namespace

Status write_file_atomically(const std::string& path, std::string_view contents, mode_t mode) {
  std::string tmpl = path + ".tmp.XXXXXX";
  std::vector<char> name(tmpl.begin(), tmpl.end());
  name.push_back('\0');
  int fd = ::mkstemp(name.data());  // 0600, and a name no one else writes to
  if (fd < 0) return io_error("create a file beside", path, errno);
  std::string tmp(name.data());
  auto fail = [&](const std::string& doing, int err) -> Status {
    ::close(fd);
    ::unlink(tmp.c_str());
    return io_error(doing, tmp, err);
  };
  if (::fchmod(fd, mode) != 0) return fail("set the mode of", errno);
  for (std::size_t done = 0; done < contents.size();) {
    auto n = ::write(fd, contents.data() + done, contents.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return fail("write", n < 0 ? errno : ENOSPC);
    done += static_cast<std::size_t>(n);
  }
  // The data reaches the disk before the name points at it.
  if (::fsync(fd) != 0) return fail("sync", errno);
  if (::close(fd) != 0) {
    int err = errno;
    ::unlink(tmp.c_str());
    return io_error("write", tmp, err);
  }
  if (std::rename(tmp.c_str(), path.c_str()) != 0) {
    int err = errno;
    ::unlink(tmp.c_str());
    return io_error("replace", path, err);
  }
  // And the rename reaches it too.
  std::string dir = parent_of(path);
  int dfd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd < 0) return io_error("open the directory", dir, errno);
  int rc = ::fsync(dfd);
  int err = errno;
  ::close(dfd);
  if (rc != 0) return io_error("sync the directory", dir, err);
  return ok();
}

}  // namespace portier::client
