#include "crypto/crypto.hpp"

#include <gtest/gtest.h>

#include <set>

namespace portier {
namespace {

class CryptoTest : public ::testing::Test {
 protected:
  void SetUp() override { ASSERT_TRUE(crypto_init()); }
};

TEST_F(CryptoTest, PasswordsVerifyOnlyWithTheRightPassword) {
  auto h = hash_password("correct horse battery");
  ASSERT_FALSE(h.empty());
  EXPECT_EQ(h.rfind("$argon2id$", 0), 0u) << h;
  EXPECT_TRUE(verify_password(h, "correct horse battery"));
  EXPECT_FALSE(verify_password(h, "correct horse batterx"));
  EXPECT_FALSE(verify_password("", "anything"));
  EXPECT_NE(hash_password("correct horse battery"), h);  // salted
}

TEST_F(CryptoTest, TokensAreRandomAndStoredAsHashes) {
  std::set<std::string> seen;
  for (int i = 0; i < 1000; ++i) EXPECT_TRUE(seen.insert(new_token()).second);
  auto t = new_token();
  EXPECT_EQ(t.rfind("ptk_", 0), 0u);
  EXPECT_EQ(t.size(), 4u + 43u);  // 256 bits in base64url
  EXPECT_EQ(token_hash(t), token_hash(t));
  EXPECT_NE(token_hash(t), token_hash(new_token()));
  EXPECT_EQ(token_hash(t).find(t.substr(4)), std::string::npos);
}

TEST_F(CryptoTest, IdsHaveAPrefixAndDoNotRepeat) {
  std::set<std::string> seen;
  for (int i = 0; i < 1000; ++i) {
    auto id = new_id("door");
    EXPECT_EQ(id.rfind("door_", 0), 0u);
    EXPECT_EQ(id.size(), 25u);
    EXPECT_TRUE(seen.insert(id).second);
  }
}

}  // namespace
}  // namespace portier
