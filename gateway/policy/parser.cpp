#include "gateway/policy/parser.hpp"

#include <cerrno>
#include <cstdlib>
#include <set>
#include <stdexcept>

#include "gateway/policy/lexer.hpp"

namespace gatedrill::policy {
namespace {

struct ParseFailure : std::runtime_error {
  using std::runtime_error::runtime_error;
};

const std::set<std::string>& keywords() {
  static const std::set<std::string> k = {"not",      "some", "every",  "with",    "as",
                                          "default",  "else", "import", "package", "if",
                                          "contains", "in",   "true",   "false",   "null"};
  return k;
}

class Parser {
 public:
  Parser(std::vector<Token> toks, std::string_view file)
      : toks_(std::move(toks)), file_(std::make_shared<const std::string>(file)) {}

  Module module() {
    Module m;
    m.file = *file_;
    if (!ident("package")) fail("expected 'package' at the start of the module");
    next();
    m.package = dotted_path();
    while (peek().kind != TokenKind::kEnd) {
      if (ident("import")) {
        m.imports.push_back(import_decl());
        const auto& path = m.imports.back().path;
        if (path.size() == 2 && path[0] == "rego" && path[1] == "v1") v1_ = true;
      } else {
        m.rules.push_back(rule(m.package));
      }
    }
    return m;
  }

  Body query() {
    Body b;
    while (peek().kind != TokenKind::kEnd) {
      b.push_back(expr());
      if (punct(";")) {
        next();
      } else if (peek().kind != TokenKind::kEnd && !peek().newline_before) {
        fail("unexpected '" + peek().text + "' after expression");
      }
    }
    if (b.empty()) fail("empty query");
    return b;
  }

 private:
  std::vector<Token> toks_;
  size_t pos_ = 0;
  std::shared_ptr<const std::string> file_;
  // `import rego.v1`: the v1 keywords are required, as OPA requires them (v0 forms are errors).
  bool v1_ = false;
  int wildcard_ = 0;
  int depth_ = 0;
  // Evaluation recurses once per body expression: bound the body length.
  static constexpr size_t kMaxBody = 1000;

  const Token& peek(size_t k = 0) const {
    size_t i = pos_ + k;
    return i < toks_.size() ? toks_[i] : toks_.back();
  }
  const Token& next() {
    const Token& t = peek();
    if (pos_ < toks_.size() - 1) ++pos_;
    return t;
  }
  bool punct(std::string_view p, size_t k = 0) const {
    return peek(k).kind == TokenKind::kPunct && peek(k).text == p;
  }
  bool ident(std::string_view s, size_t k = 0) const {
    return peek(k).kind == TokenKind::kIdent && peek(k).text == s;
  }
  Location loc() const { return Location{file_, peek().line, peek().col}; }
  [[noreturn]] void fail(const std::string& msg) const {
    throw ParseFailure(*file_ + ":" + std::to_string(peek().line) + ": " + msg);
  }
  void expect(std::string_view p) {
    if (!punct(p)) {
      fail("expected '" + std::string(p) + "' but found " +
           (peek().kind == TokenKind::kEnd ? std::string("end of file") : "'" + peek().text + "'"));
    }
    next();
  }
  std::string name() {
    if (peek().kind != TokenKind::kIdent) fail("expected a name but found '" + peek().text + "'");
    return next().text;
  }

  std::vector<std::string> dotted_path() {
    std::vector<std::string> out{name()};
    while (true) {
      if (punct(".") && !peek().newline_before) {
        next();
        out.push_back(name());
      } else if (punct("[") && !peek().newline_before && peek(1).kind == TokenKind::kString) {
        next();
        out.push_back(next().text);
        expect("]");
      } else {
        break;
      }
    }
    return out;
  }

  Import import_decl() {
    Import imp;
    imp.loc = loc();
    next();
    imp.path = dotted_path();
    if (ident("as")) {
      next();
      imp.alias = name();
    } else {
      imp.alias = imp.path.back();
    }
    const std::string& root = imp.path[0];
    if (root != "data" && root != "input" && root != "future" && root != "rego") {
      throw ParseFailure(imp.loc.str() + ": import must begin with data, input, future or rego");
    }
    if (root == "future" && (imp.path.size() < 2 || imp.path[1] != "keywords")) {
      throw ParseFailure(imp.loc.str() + ": unsupported import future." + imp.path.back());
    }
    if (root == "rego" && (imp.path.size() != 2 || imp.path[1] != "v1")) {
      throw ParseFailure(imp.loc.str() + ": unsupported import (only rego.v1)");
    }
    return imp;
  }

  std::shared_ptr<Rule> rule(const std::vector<std::string>& package) {
    auto r = std::make_shared<Rule>();
    r->loc = loc();
    if (ident("default")) {
      next();
      r->is_default = true;
    }
    if (peek().kind != TokenKind::kIdent)
      fail("expected a rule, import or end of file but found '" + peek().text + "'");
    r->name = name();
    if (keywords().count(r->name)) fail("'" + r->name + "' is a keyword, not a rule name");
    r->path = package;
    r->path.push_back(r->name);
    if (punct(".")) fail("unsupported: rule heads with dotted references ('" + r->name + ".')");
    if (r->is_default) {
      if (!punct("=") && !punct(":=")) fail("default rule needs '=' or ':=' and a value");
      next();
      r->value = term_in();
      return r;
    }
    if (punct("(") && !peek().newline_before) {
      next();
      r->kind = RuleKind::kFunction;
      if (!punct(")")) {
        while (true) {
          r->args.push_back(term_in());
          if (punct(",")) {
            next();
            continue;
          }
          break;
        }
      }
      expect(")");
    } else if (punct("[") && !peek().newline_before) {
      next();
      r->kind = RuleKind::kPartialSet;
      r->key = term_in();
      expect("]");
      if (v1_ && !punct("=") && !punct(":="))  // p[k] := v stays (a partial object)
        fail("`contains` keyword is required for partial set rules (import rego.v1)");
    } else if (ident("contains") && !punct("(", 1)) {
      next();
      r->kind = RuleKind::kPartialSet;
      r->key = term_in();
    }
    if (punct("=") || punct(":=")) {
      next();
      r->value = term_member();
      if (r->kind == RuleKind::kPartialSet) {
        r->kind = RuleKind::kPartialObject;
      }
    }
    bool has_body = rule_body(r->body);
    if (!has_body && r->kind == RuleKind::kComplete && !r->value) {
      fail("rule '" + r->name + "' has neither a value nor a body");
    }
    if (!has_body && r->kind == RuleKind::kFunction && !r->value)
      fail("function '" + r->name + "' needs a value or a body");
    while (ident("else")) {
      if (r->kind != RuleKind::kComplete && r->kind != RuleKind::kFunction)
        fail("'else' only follows complete rules and functions");
      ElseClause e;
      e.loc = loc();
      next();
      if (punct("=") || punct(":=")) {
        next();
        e.value = term_in();
      }
      if (!rule_body(e.body)) {
        // `else = v` without a body is allowed: it always applies.
      }
      r->elses.push_back(std::move(e));
    }
    if (punct("{")) fail("unsupported: a rule with several bodies; write one rule per body");
    return r;
  }

  // `if { ... }`, `if expr`, `{ ... }`; false when the rule has no body.
  bool rule_body(Body& body) {
    if (ident("if")) {
      next();
      if (punct("{")) {
        body = braces_body();
      } else {
        body.push_back(expr());
      }
      return true;
    }
    if (punct("{")) {
      if (v1_) fail("`if` keyword is required before rule body (import rego.v1)");
      body = braces_body();
      return true;
    }
    return false;
  }

  Body braces_body() {
    expect("{");
    Body b;
    while (!punct("}")) {
      if (peek().kind == TokenKind::kEnd) fail("unterminated body: expected '}'");
      b.push_back(expr());
      if (b.size() > kMaxBody)
        fail("body has more than " + std::to_string(kMaxBody) + " expressions");
      if (punct(";")) {
        next();
      } else if (!punct("}") && !peek().newline_before) {
        fail("unexpected '" + peek().text + "' after expression");
      }
    }
    next();
    if (b.empty()) fail("empty body");
    return b;
  }

  Expr expr() {
    Nesting guard(*this);
    Expr e;
    e.loc = loc();
    if (ident("not")) {
      next();
      e.kind = ExprKind::kNot;
      e.negated = std::make_shared<Expr>(expr_core());
    } else {
      e = expr_core();
    }
    while (ident("with") && !peek().newline_before) {
      next();
      WithModifier w;
      w.target = term_rel();
      if (!ident("as")) fail("expected 'as' after the 'with' target");
      next();
      w.value = term_in();
      e.withs.push_back(std::move(w));
    }
    return e;
  }

  Expr expr_core() {
    Expr e;
    e.loc = loc();
    if (ident("some")) {
      next();
      std::vector<TermPtr> vars{term_rel()};
      while (punct(",")) {
        next();
        vars.push_back(term_rel());
      }
      if (ident("in")) {
        next();
        if (vars.size() > 2) fail("'some' with 'in' takes one or two variables");
        e.kind = ExprKind::kSomeIn;
        e.terms = {vars.size() == 2 ? vars[0] : nullptr, vars.back(), term_rel()};
        return e;
      }
      for (const auto& v : vars) {
        if (v->kind != TermKind::kVar) fail("'some' declares variables; found an expression");
      }
      e.kind = ExprKind::kSomeDecl;
      e.terms = std::move(vars);
      return e;
    }
    if (ident("every")) {
      next();
      TermPtr a = term_rel();
      TermPtr b;
      if (punct(",")) {
        next();
        b = term_rel();
      }
      if (!ident("in")) fail("expected 'in' in 'every'");
      next();
      e.kind = ExprKind::kEvery;
      TermPtr coll = term_rel();
      e.terms = {b ? a : nullptr, b ? b : a, coll};
      e.body = std::make_shared<Body>(braces_body());
      return e;
    }
    TermPtr lhs = term_member();
    if (punct(":=") || punct("=")) {
      e.kind = punct(":=") ? ExprKind::kAssign : ExprKind::kUnify;
      next();
      e.terms = {lhs, term_member()};
      return e;
    }
    e.kind = ExprKind::kTerm;
    e.terms = {lhs};
    return e;
  }

  TermPtr make_call(const char* fn, std::vector<TermPtr> args, Location l) {
    auto t = std::make_shared<Term>();
    t->kind = TermKind::kCall;
    t->name = fn;
    t->items = std::move(args);
    t->loc = std::move(l);
    return t;
  }

  bool infix(std::string_view op) const { return punct(op) && !peek().newline_before; }

  // `key, value in collection` (membership of a key/index with its value) where an expression
  // may stand: a body expression, either side of `:=`/`=`, a rule value, parentheses. In list
  // contexts (arrays, sets, call arguments) the comma separates items, as in OPA.
  TermPtr term_member() {
    TermPtr first = term_in();
    if (!punct(",") || peek().newline_before) return first;
    Location l = loc();
    next();
    TermPtr value = term_rel();
    if (!ident("in")) fail("expected 'in' after 'key, value'");
    next();
    return make_call("internal.member_3", {first, value, term_rel()}, l);
  }

  TermPtr term_in(bool no_or = false) {
    TermPtr lhs = term_rel(no_or);
    while (ident("in") && !peek().newline_before) {
      Location l = loc();
      next();
      lhs = make_call("internal.member_2", {lhs, term_rel(no_or)}, l);
    }
    return lhs;
  }

  TermPtr term_rel(bool no_or = false) {
    TermPtr lhs = term_or(no_or);
    static const std::pair<const char*, const char*> kOps[] = {
        {"==", "equal"}, {"!=", "neq"}, {"<=", "lte"}, {">=", "gte"}, {"<", "lt"}, {">", "gt"}};
    while (true) {
      const char* fn = nullptr;
      for (const auto& [op, f] : kOps) {
        if (infix(op)) fn = f;
      }
      if (!fn) return lhs;
      Location l = loc();
      next();
      lhs = make_call(fn, {lhs, term_or(no_or)}, l);
    }
  }

  TermPtr term_or(bool no_or) {
    TermPtr lhs = term_and();
    while (!no_or && infix("|")) {
      Location l = loc();
      next();
      lhs = make_call("or", {lhs, term_and()}, l);
    }
    return lhs;
  }

  TermPtr term_and() {
    TermPtr lhs = term_arith();
    while (infix("&")) {
      Location l = loc();
      next();
      lhs = make_call("and", {lhs, term_arith()}, l);
    }
    return lhs;
  }

  TermPtr term_arith() {
    TermPtr lhs = term_factor();
    while (infix("+") || infix("-")) {
      Location l = loc();
      const char* fn = punct("+") ? "plus" : "minus";
      next();
      lhs = make_call(fn, {lhs, term_factor()}, l);
    }
    return lhs;
  }

  TermPtr term_factor() {
    TermPtr lhs = term_unary();
    while (infix("*") || infix("/") || infix("%")) {
      Location l = loc();
      const char* fn = punct("*") ? "mul" : punct("/") ? "div" : "rem";
      next();
      lhs = make_call(fn, {lhs, term_unary()}, l);
    }
    return lhs;
  }

  TermPtr term_unary() {
    if (punct("-")) {
      Location l = loc();
      next();
      TermPtr t = term_unary();
      if (t->kind == TermKind::kScalar && t->scalar.is_number()) {
        t->scalar = t->scalar.is_int() ? Value::integer(-t->scalar.as_int())
                                       : Value::number(-t->scalar.as_double());
        return t;
      }
      auto zero = std::make_shared<Term>();
      zero->scalar = Value::integer(0);
      zero->loc = l;
      return make_call("minus", {zero, t}, l);
    }
    return postfix(primary());
  }

  TermPtr scalar(Value v, Location l) {
    auto t = std::make_shared<Term>();
    t->kind = TermKind::kScalar;
    t->scalar = std::move(v);
    t->loc = std::move(l);
    return t;
  }

  // Hostile input must not exhaust the stack: nested terms and bodies are bounded.
  struct Nesting {
    explicit Nesting(Parser& p) : p_(p) {
      if (++p_.depth_ > 64) p_.fail("nesting too deep (more than 64 levels)");
    }
    ~Nesting() { --p_.depth_; }
    Parser& p_;
  };

  TermPtr primary() {
    Nesting guard(*this);
    Location l = loc();
    const Token& t = peek();
    if (t.kind == TokenKind::kNumber) {
      next();
      bool is_int = t.text.find_first_of(".eE") == std::string::npos;
      if (is_int) {
        errno = 0;
        long long v = std::strtoll(t.text.c_str(), nullptr, 10);
        if (errno == 0) return scalar(Value::integer(v), l);
      }
      return scalar(Value::number(std::strtod(t.text.c_str(), nullptr)), l);
    }
    if (t.kind == TokenKind::kString) {
      next();
      return scalar(Value::string(t.text), l);
    }
    if (t.kind == TokenKind::kIdent) {
      if (t.text == "true" || t.text == "false") {
        bool b = t.text == "true";
        next();
        return scalar(Value::boolean(b), l);
      }
      if (t.text == "null") {
        next();
        return scalar(Value::null(), l);
      }
      if (t.text == "set" && punct("(", 1) && punct(")", 2)) {
        pos_ += 3;
        return scalar(Value::set({}), l);
      }
      bool call_ok = punct("(", 1) && !peek(1).newline_before;
      if (keywords().count(t.text) && !call_ok) fail("unexpected keyword '" + t.text + "'");
      next();
      auto v = std::make_shared<Term>();
      v->kind = TermKind::kVar;
      v->name = t.text == "_" ? "_$" + std::to_string(wildcard_++) : t.text;
      v->loc = l;
      return v;
    }
    if (punct("(")) {
      next();
      TermPtr inner = term_member();
      expect(")");
      return inner;
    }
    if (punct("[")) return array_or_compr();
    if (punct("{")) return object_or_set();
    if (t.kind == TokenKind::kEnd) fail("unexpected end of file");
    fail("unexpected '" + t.text + "'");
  }

  // Refs (a.b[c]) and calls (f(x), io.jwt.decode(t)), possibly indexed after a call.
  TermPtr postfix(TermPtr base) {
    TermPtr ref;
    auto ensure_ref = [&]() {
      if (!ref) {
        ref = std::make_shared<Term>();
        ref->kind = TermKind::kRef;
        ref->loc = base->loc;
        ref->items.push_back(base);
      }
    };
    bool can_index = base->kind == TermKind::kVar || base->kind == TermKind::kArray ||
                     base->kind == TermKind::kObject || base->kind == TermKind::kSet ||
                     base->kind == TermKind::kArrayCompr || base->kind == TermKind::kSetCompr ||
                     base->kind == TermKind::kObjectCompr;
    if (!can_index) return base;
    while (!peek().newline_before) {
      if (punct(".")) {
        next();
        ensure_ref();
        Location l = loc();
        ref->items.push_back(scalar(Value::string(name()), l));
      } else if (punct("[")) {
        next();
        ensure_ref();
        ref->items.push_back(term_in());
        expect("]");
      } else if (punct("(") && (ref || base->kind == TermKind::kVar)) {
        // The callee must be a plain dotted name.
        std::string fn;
        if (!ref) {
          fn = base->name;
        } else {
          if (ref->items[0]->kind != TermKind::kVar) fail("cannot call this expression");
          fn = ref->items[0]->name;
          for (size_t i = 1; i < ref->items.size(); ++i) {
            const auto& p = ref->items[i];
            if (p->kind != TermKind::kScalar || !p->scalar.is_string())
              fail("function names must be dotted names");
            fn += "." + p->scalar.as_string();
          }
        }
        Location l = base->loc;
        next();
        std::vector<TermPtr> args;
        if (!punct(")")) {
          while (true) {
            args.push_back(term_in());
            if (punct(",")) {
              next();
              continue;
            }
            break;
          }
        }
        expect(")");
        base = make_call(fn.c_str(), std::move(args), l);
        ref.reset();
        if (punct("[") && !peek().newline_before) {
          ensure_ref();
          continue;
        }
        if (punct(".") && !peek().newline_before) {
          ensure_ref();
          continue;
        }
        return base;
      } else {
        break;
      }
    }
    return ref ? ref : base;
  }

  TermPtr array_or_compr() {
    Location l = loc();
    next();
    auto t = std::make_shared<Term>();
    t->loc = l;
    t->kind = TermKind::kArray;
    if (punct("]")) {
      next();
      return t;
    }
    size_t start = pos_;
    TermPtr first = term_in(true);
    if (punct("|")) {
      // A comprehension, unless the body does not parse: then `|` was set union (as OPA does).
      size_t bar = pos_;
      try {
        next();
        t->kind = TermKind::kArrayCompr;
        t->head = first;
        t->body = std::make_shared<Body>(compr_body("]"));
        return t;
      } catch (const ParseFailure&) {
        pos_ = start;
        t->kind = TermKind::kArray;
        first = term_in();
        (void)bar;
      }
    }
    t->items.push_back(first);
    while (punct(",")) {
      next();
      if (punct("]")) break;
      t->items.push_back(term_in());
    }
    expect("]");
    return t;
  }

  TermPtr object_or_set() {
    Location l = loc();
    next();
    auto t = std::make_shared<Term>();
    t->loc = l;
    t->kind = TermKind::kObject;
    if (punct("}")) {
      next();
      return t;
    }
    TermPtr first = term_in(true);
    if (punct(":")) {
      next();
      TermPtr val = term_in(true);
      if (punct("|")) {
        next();
        t->kind = TermKind::kObjectCompr;
        t->key = first;
        t->head = val;
        t->body = std::make_shared<Body>(compr_body("}"));
        return t;
      }
      t->items = {first, val};
      while (punct(",")) {
        next();
        if (punct("}")) break;
        t->items.push_back(term_in());
        expect(":");
        t->items.push_back(term_in());
      }
      expect("}");
      return t;
    }
    if (punct("|")) {
      next();
      t->kind = TermKind::kSetCompr;
      t->head = first;
      t->body = std::make_shared<Body>(compr_body("}"));
      return t;
    }
    t->kind = TermKind::kSet;
    t->items.push_back(first);
    while (punct(",")) {
      next();
      if (punct("}")) break;
      t->items.push_back(term_in());
    }
    expect("}");
    return t;
  }

  Body compr_body(std::string_view close) {
    Body b;
    while (!punct(close)) {
      if (peek().kind == TokenKind::kEnd) fail("unterminated comprehension");
      b.push_back(expr());
      if (punct(";")) {
        next();
      } else if (!punct(close) && !peek().newline_before) {
        fail("unexpected '" + peek().text + "' in comprehension body");
      }
    }
    next();
    if (b.empty()) fail("empty comprehension body");
    return b;
  }
};

}  // namespace

Result<Module> parse_module(std::string_view source, std::string_view file) {
  auto toks = lex_rego(source, file);
  if (!toks) return toks.error();
  try {
    Parser p(std::move(*toks), file);
    return p.module();
  } catch (const ParseFailure& e) {
    return make_error("rego_parse_error", e.what());
  }
}

Result<Body> parse_query(std::string_view source) {
  auto toks = lex_rego(source, "query");
  if (!toks) return toks.error();
  try {
    Parser p(std::move(*toks), "query");
    return p.query();
  } catch (const ParseFailure& e) {
    return make_error("rego_parse_error", e.what());
  }
}

}  // namespace gatedrill::policy
