#pragma once
#include <string>
#include <string_view>

#include "core/util/result.hpp"

namespace gatedrill {

// RFC 4648 section 5 alphabet, no padding.
std::string base64url_encode(std::string_view bytes);
// Strict: rejects padding, characters outside the alphabet and impossible lengths.
// Errors: "bad_base64url".
Result<std::string> base64url_decode(std::string_view text);

}  // namespace gatedrill
