#pragma once
// Parsing of what a client sends to the token endpoint (RFC 6749 section 2.3 and appendix B):
// the form-encoded body and HTTP Basic client credentials.
#include <map>
#include <optional>
#include <string>
#include <string_view>

#include "core/util/result.hpp"

namespace gatedrill {

// application/x-www-form-urlencoded: "a=1&b=x+y%21". Errors: "invalid_request" (bad percent
// escape, a parameter sent twice).
Result<std::map<std::string, std::string>> parse_form(std::string_view body);

struct ClientCredentials {
  std::string id;
  std::string secret;
};

// The value of an Authorization header. Not Basic -> nullopt. Errors: "invalid_client" for a
// Basic header that does not decode to "id:secret".
Result<std::optional<ClientCredentials>> parse_basic_auth(std::string_view authorization);

// The same "id:secret" encoding a client would send (for tests and tools).
std::string basic_auth_header(std::string_view id, std::string_view secret);

}  // namespace gatedrill
