#include "gateway/policy/lexer.hpp"

#include <cctype>

namespace gatedrill::policy {
namespace {

bool ident_start(char c) {
  return std::isalpha(static_cast<unsigned char>(c)) || c == '_';
}
bool ident_char(char c) {
  return std::isalnum(static_cast<unsigned char>(c)) || c == '_';
}

void append_utf8(std::string& out, unsigned cp) {
  if (cp < 0x80) {
    out += static_cast<char>(cp);
  } else if (cp < 0x800) {
    out += static_cast<char>(0xC0 | (cp >> 6));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else if (cp < 0x10000) {
    out += static_cast<char>(0xE0 | (cp >> 12));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else {
    out += static_cast<char>(0xF0 | (cp >> 18));
    out += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  }
}

}  // namespace

Result<std::vector<Token>> lex_rego(std::string_view src, std::string_view file) {
  std::vector<Token> out;
  int line = 1;
  size_t line_start = 0;
  bool newline = true;
  size_t i = 0;
  auto fail = [&](int at_line, const std::string& msg) {
    return make_error("rego_parse_error",
                      std::string(file) + ":" + std::to_string(at_line) + ": " + msg);
  };
  while (i < src.size()) {
    char c = src[i];
    if (c == '\n') {
      ++line;
      ++i;
      line_start = i;
      newline = true;
      continue;
    }
    if (c == ' ' || c == '\t' || c == '\r') {
      ++i;
      continue;
    }
    if (c == '#') {
      while (i < src.size() && src[i] != '\n') ++i;
      continue;
    }
    Token t;
    t.line = line;
    t.col = static_cast<int>(i - line_start) + 1;
    t.newline_before = newline;
    newline = false;
    if (ident_start(c)) {
      size_t s = i;
      while (i < src.size() && ident_char(src[i])) ++i;
      t.kind = TokenKind::kIdent;
      t.text = std::string(src.substr(s, i - s));
    } else if (std::isdigit(static_cast<unsigned char>(c))) {
      size_t s = i;
      while (i < src.size() && std::isdigit(static_cast<unsigned char>(src[i]))) ++i;
      if (i + 1 < src.size() && src[i] == '.' &&
          std::isdigit(static_cast<unsigned char>(src[i + 1]))) {
        ++i;
        while (i < src.size() && std::isdigit(static_cast<unsigned char>(src[i]))) ++i;
      }
      if (i < src.size() && (src[i] == 'e' || src[i] == 'E')) {
        size_t e = i + 1;
        if (e < src.size() && (src[e] == '+' || src[e] == '-')) ++e;
        if (e < src.size() && std::isdigit(static_cast<unsigned char>(src[e]))) {
          i = e;
          while (i < src.size() && std::isdigit(static_cast<unsigned char>(src[i]))) ++i;
        }
      }
      t.kind = TokenKind::kNumber;
      t.text = std::string(src.substr(s, i - s));
    } else if (c == '"') {
      ++i;
      t.kind = TokenKind::kString;
      bool closed = false;
      while (i < src.size()) {
        char d = src[i];
        if (d == '"') {
          ++i;
          closed = true;
          break;
        }
        if (d == '\n') break;
        if (d == '\\') {
          if (i + 1 >= src.size()) break;
          char e = src[i + 1];
          i += 2;
          switch (e) {
            case '"':
              t.text += '"';
              break;
            case '\\':
              t.text += '\\';
              break;
            case '/':
              t.text += '/';
              break;
            case 'b':
              t.text += '\b';
              break;
            case 'f':
              t.text += '\f';
              break;
            case 'n':
              t.text += '\n';
              break;
            case 'r':
              t.text += '\r';
              break;
            case 't':
              t.text += '\t';
              break;
            case 'u': {
              if (i + 4 > src.size()) return fail(line, "bad \\u escape in string");
              unsigned cp = 0;
              for (int k = 0; k < 4; ++k) {
                char h = src[i + k];
                cp <<= 4;
                if (h >= '0' && h <= '9')
                  cp |= static_cast<unsigned>(h - '0');
                else if (h >= 'a' && h <= 'f')
                  cp |= static_cast<unsigned>(h - 'a' + 10);
                else if (h >= 'A' && h <= 'F')
                  cp |= static_cast<unsigned>(h - 'A' + 10);
                else
                  return fail(line, "bad \\u escape in string");
              }
              i += 4;
              append_utf8(t.text, cp);
              break;
            }
            default:
              return fail(line, std::string("illegal escape \\") + e + " in string");
          }
          continue;
        }
        t.text += d;
        ++i;
      }
      if (!closed) return fail(t.line, "unterminated string");
    } else if (c == '`') {
      size_t s = ++i;
      while (i < src.size() && src[i] != '`') {
        if (src[i] == '\n') {
          ++line;
          line_start = i + 1;
        }
        ++i;
      }
      if (i >= src.size()) return fail(t.line, "unterminated raw string");
      t.kind = TokenKind::kString;
      t.text = std::string(src.substr(s, i - s));
      ++i;
    } else {
      static const char* const kTwo[] = {":=", "==", "!=", "<=", ">="};
      t.kind = TokenKind::kPunct;
      for (const char* two : kTwo) {
        if (src.substr(i, 2) == two) t.text = two;
      }
      if (t.text.empty()) {
        if (std::string_view("{}[]().,;:=<>+-*/%|&").find(c) == std::string_view::npos) {
          if (static_cast<unsigned char>(c) >= 0x80) {
            return fail(line,
                        "illegal character (non-ASCII outside a string; typographic quotes "
                        "must be plain \" quotes)");
          }
          return fail(line, std::string("illegal character '") + c + "'");
        }
        t.text = std::string(1, c);
      }
      i += t.text.size();
    }
    out.push_back(std::move(t));
  }
  Token end;
  end.kind = TokenKind::kEnd;
  end.line = line;
  end.newline_before = true;
  out.push_back(end);
  return out;
}

}  // namespace gatedrill::policy
