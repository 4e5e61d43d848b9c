#pragma once
// Rego tokens. Newlines are not tokens: each token records whether a line break preceded it,
// which is how the parser separates body expressions.
#include <string>
#include <string_view>
#include <vector>

#include "core/util/result.hpp"

namespace gatedrill::policy {

enum class TokenKind { kIdent, kNumber, kString, kPunct, kEnd };

struct Token {
  TokenKind kind = TokenKind::kEnd;
  std::string text;  // identifier, punctuation, number text, or the decoded string
  int line = 1;
  int col = 1;
  bool newline_before = false;
};

// Errors: "rego_parse_error" with "file:line: message".
Result<std::vector<Token>> lex_rego(std::string_view source, std::string_view file);

}  // namespace gatedrill::policy
