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
// The same into *out (resized to the decoded length), so a caller decoding many inputs can reuse
// one buffer's capacity. *out is unspecified after an error.
Result<void> base64url_decode_to(std::string_view text, std::string* out);

}  // namespace gatedrill
