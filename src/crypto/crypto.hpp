#pragma once
// libsodium: random ids and tokens, token hashes, argon2id password hashes.

#include <string>

namespace portier {

// Call once at start-up; false when libsodium cannot initialize.
bool crypto_init();
// A new opaque id: prefix, '_', 20 random base32 characters ("site_k3j…").
std::string new_id(const char* prefix);
// A new enrollment code for people to type: 12 base32 characters (60 bits) as XXXX-XXXX-XXXX.
std::string new_enrollment_code();
// The code as stored: upper case, without dashes or spaces ("" when it holds anything else).
std::string normalize_code(const std::string& code);
// A new bearer token: 256 random bits, base64url.
std::string new_token();
// The hex hash under which a token is stored (tokens themselves are never stored).
std::string token_hash(const std::string& token);
// Whether a secret a client sent equals the expected one, in time that does not depend on
// where they differ.
bool same_secret(const std::string& given, const std::string& expected);
// argon2id, libsodium's interactive limits; empty on failure (out of memory).
std::string hash_password(const std::string& password);
bool verify_password(const std::string& hash, const std::string& password);

}  // namespace portier
