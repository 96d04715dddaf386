#include "crypto/crypto.hpp"

#include <sodium.h>

#include <cctype>

namespace portier {

bool crypto_init() { return sodium_init() >= 0; }

std::string new_id(const char* prefix) {
  static const char kAlphabet[] = "0123456789abcdefghjkmnpqrstvwxyz";  // Crockford base32
  unsigned char bytes[20];
  randombytes_buf(bytes, sizeof bytes);
  std::string id = std::string(prefix) + "_";
  for (unsigned char b : bytes) id += kAlphabet[b & 31];
  return id;
}

std::string new_enrollment_code() {
  static const char kAlphabet[] = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";  // Crockford base32
  unsigned char bytes[12];
  randombytes_buf(bytes, sizeof bytes);
  std::string code;
  for (int i = 0; i < 12; ++i) {
    if (i && i % 4 == 0) code += '-';
    code += kAlphabet[bytes[i] & 31];
  }
  return code;
}

std::string normalize_code(const std::string& code) {
  std::string out;
  for (char ch : code) {
    if (ch == '-' || ch == ' ') continue;
    if (!std::isalnum(static_cast<unsigned char>(ch))) return "";
    out += static_cast<char>(std::toupper(static_cast<unsigned char>(ch)));
  }
  return out.size() == 12 ? out : "";
}

std::string new_token() {
  unsigned char bytes[32];
  randombytes_buf(bytes, sizeof bytes);
  char out[sodium_base64_ENCODED_LEN(32, sodium_base64_VARIANT_URLSAFE_NO_PADDING)];
  sodium_bin2base64(out, sizeof out, bytes, sizeof bytes, sodium_base64_VARIANT_URLSAFE_NO_PADDING);
  return std::string("ptk_") + out;
}

std::string token_hash(const std::string& token) {
  unsigned char h[32];
  crypto_generichash(h, sizeof h, reinterpret_cast<const unsigned char*>(token.data()),
                     token.size(), nullptr, 0);
  char hex[65];
  sodium_bin2hex(hex, sizeof hex, h, sizeof h);
  return hex;
}

bool same_secret(const std::string& given, const std::string& expected) {
  // Equal-length hashes compared in constant time: the timing tells nothing about either.
  auto a = token_hash(given), b = token_hash(expected);
  return sodium_memcmp(a.data(), b.data(), a.size()) == 0;
}

std::string hash_password(const std::string& password) {
  char out[crypto_pwhash_STRBYTES];
  if (crypto_pwhash_str_alg(out, password.data(), password.size(),
                            crypto_pwhash_OPSLIMIT_INTERACTIVE, crypto_pwhash_MEMLIMIT_INTERACTIVE,
                            crypto_pwhash_ALG_ARGON2ID13) != 0)
    return {};
  return out;
}

bool verify_password(const std::string& hash, const std::string& password) {
  if (hash.empty()) return false;
  return crypto_pwhash_str_verify(hash.c_str(), password.data(), password.size()) == 0;
}

}  // namespace portier
