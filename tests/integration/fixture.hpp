#pragma once
// One organization on a fresh portierd, with its owner logged in; drivers that read as sentences.

#include <gtest/gtest.h>

#include "support/server.hpp"

namespace portier::testing {

class ApiTest : public ::testing::Test {
 protected:
  static constexpr const char* kOwner = "owner@one.test";
  static constexpr const char* kPassword = "owner-password-1";

  void SetUp() override;

  Client c() const { return server_.client(); }
  // Creates a record as `token` (default: the owner); asserts 201 and returns its id.
  std::string create(const std::string& plural, const json::object& body,
                     const std::string& token = "");
  // Creates a user with a password and logs her in; returns {id, token}.
  std::pair<std::string, std::string> person(const std::string& email,
                                             const std::string& role = "member",
                                             json::object extra = {});
  // A site in Europe/Madrid with one door: {site_id, door_id}.
  std::pair<std::string, std::string> site_with_door(const std::string& name = "HQ");
  // Everything the owner can read (every list and the audit log), to compare before and after.
  std::string digest();

  Server server_;
  std::string owner_;
};

}  // namespace portier::testing
