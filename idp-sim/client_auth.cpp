#include "idp-sim/client_auth.hpp"

#include <openssl/evp.h>

#include "core/util/strings.hpp"

namespace gatedrill {

namespace {

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// Form decoding: '+' is a space, %XX a byte.
Result<std::string> form_decode(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (size_t i = 0; i < text.size(); ++i) {
    char c = text[i];
    if (c == '+') {
      out.push_back(' ');
    } else if (c == '%') {
      int hi = i + 2 < text.size() ? hex_value(text[i + 1]) : -1;
      int lo = i + 2 < text.size() ? hex_value(text[i + 2]) : -1;
      if (hi < 0 || lo < 0) return make_error("invalid_request", "bad percent-encoding in the form body");
      out.push_back(static_cast<char>(hi * 16 + lo));
      i += 2;
    } else {
      out.push_back(c);
    }
  }
  return out;
}

std::string form_encode(std::string_view text) {
  static const char* hex = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : text) {
    if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '.' ||
        c == '_' || c == '~') {
      out.push_back(static_cast<char>(c));
    } else {
      out.push_back('%');
      out.push_back(hex[c >> 4]);
      out.push_back(hex[c & 15]);
    }
  }
  return out;
}

// Standard (padded) base64, as HTTP Basic uses.
std::optional<std::string> base64_decode(std::string_view text) {
  if (text.empty() || text.size() % 4 != 0 || text.size() > 4096) return std::nullopt;
  std::string out(text.size() / 4 * 3, '\0');
  int n = EVP_DecodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                          reinterpret_cast<const unsigned char*>(text.data()), static_cast<int>(text.size()));
  if (n < 0) return std::nullopt;
  size_t padding = text.back() == '=' ? (text[text.size() - 2] == '=' ? 2 : 1) : 0;
  out.resize(static_cast<size_t>(n) - padding);
  return out;
}

std::string base64_encode(std::string_view bytes) {
  std::string out((bytes.size() + 2) / 3 * 4 + 1, '\0');
  int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                          reinterpret_cast<const unsigned char*>(bytes.data()), static_cast<int>(bytes.size()));
  out.resize(static_cast<size_t>(n));
  return out;
}

}  // namespace

Result<std::map<std::string, std::string>> parse_form(std::string_view body) {
  std::map<std::string, std::string> params;
  if (body.empty()) return params;
  for (auto pair : split(body, '&')) {
    if (pair.empty()) continue;
    size_t eq = pair.find('=');
    auto name = form_decode(pair.substr(0, eq));
    if (!name) return name.error();
    auto value = form_decode(eq == std::string_view::npos ? std::string_view() : pair.substr(eq + 1));
    if (!value) return value.error();
    if (!params.emplace(std::move(*name), std::move(*value)).second)
      return make_error("invalid_request", "parameter \"" + std::string(pair.substr(0, eq)) + "\" sent more than once");
  }
  return params;
}

Result<std::optional<ClientCredentials>> parse_basic_auth(std::string_view authorization) {
  authorization = trim(authorization);
  size_t space = authorization.find(' ');
  if (!iequals(authorization.substr(0, space), "basic")) return std::optional<ClientCredentials>{};
  auto decoded = base64_decode(space == std::string_view::npos ? std::string_view() : trim(authorization.substr(space)));
  if (!decoded) return make_error("invalid_client", "the Basic credentials are not valid base64");
  size_t colon = decoded->find(':');
  if (colon == std::string::npos) return make_error("invalid_client", "the Basic credentials have no ':'");
  // RFC 6749 2.3.1: id and secret are form-encoded before Basic encoding.
  auto id = form_decode(std::string_view(*decoded).substr(0, colon));
  auto secret = form_decode(std::string_view(*decoded).substr(colon + 1));
  if (!id || !secret) return make_error("invalid_client", "the Basic credentials are not form-encoded");
  return std::optional<ClientCredentials>{ClientCredentials{std::move(*id), std::move(*secret)}};
}

std::string basic_auth_header(std::string_view id, std::string_view secret) {
  return "Basic " + base64_encode(form_encode(id) + ":" + form_encode(secret));
}

}  // namespace gatedrill
