#include "client/durable_file.hpp"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>

namespace portier::client {
namespace {

std::string read(const std::string& path) {
  std::ifstream f(path);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

class DurableFile : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/portier-durable-XXXXXX";
    dir_ = mkdtemp(tmpl);
  }
  void TearDown() override {
    ::chmod(dir_.c_str(), 0700);
    std::filesystem::remove_all(dir_);
  }
  std::size_t files() {
    std::size_t n = 0;
    for ([[maybe_unused]] const auto& e : std::filesystem::directory_iterator(dir_)) ++n;
    return n;
  }
  std::string dir_;
};

TEST_F(DurableFile, ReplacesTheFileWholeWithTheModeAskedAndLeavesNoTemporary) {
  std::string path = dir_ + "/credentials.json";
  ASSERT_TRUE(write_file_atomically(path, "old", 0600).ok());
  ASSERT_TRUE(write_file_atomically(path, "new and longer", 0600).ok());
  EXPECT_EQ(read(path), "new and longer");
  struct stat st {};
  ASSERT_EQ(::stat(path.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  EXPECT_EQ(files(), 1u);
  ASSERT_TRUE(write_file_atomically(path, "shared", 0644).ok());
  ASSERT_EQ(::stat(path.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0644u);
}

TEST_F(DurableFile, AFailureLeavesWhatWasThereAndNoTemporary) {
  // A directory in the way: the rename fails (as root too).
  std::string path = dir_ + "/state.json";
  std::filesystem::create_directory(path);
  std::ofstream(path + "/keep") << "kept";
  auto s = write_file_atomically(path, "new");
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.error().code, "io_error");
  EXPECT_EQ(read(path + "/keep"), "kept");
  EXPECT_EQ(files(), 1u);  // no temporary left beside it
}

TEST_F(DurableFile, AMissingDirectoryIsAnErrorNotACrash) {
  auto s = write_file_atomically(dir_ + "/no/such/dir/file", "x");
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.error().code, "io_error");
}

}  // namespace
}  // namespace portier::client
