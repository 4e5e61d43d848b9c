#include "gateway/policy/lint.hpp"

#include <algorithm>
#include <functional>

#include "core/util/strings.hpp"
#include "gateway/policy/parser.hpp"

namespace gatedrill::policy {
namespace {

using TermVisitor = std::function<void(const Term&)>;

void walk_term(const TermPtr& t, const TermVisitor& fn);
void walk_expr(const Expr& e, const TermVisitor& fn, const std::function<void(const Expr&)>& efn);

void walk_body(const Body& b, const TermVisitor& fn, const std::function<void(const Expr&)>& efn) {
  for (const auto& e : b) walk_expr(e, fn, efn);
}
void walk_term(const TermPtr& t, const TermVisitor& fn) {
  if (!t) return;
  fn(*t);
  for (const auto& i : t->items) walk_term(i, fn);
  walk_term(t->head, fn);
  walk_term(t->key, fn);
  if (t->body) walk_body(*t->body, fn, [](const Expr&) {});
}
void walk_expr(const Expr& e, const TermVisitor& fn, const std::function<void(const Expr&)>& efn) {
  efn(e);
  for (const auto& t : e.terms) walk_term(t, fn);
  if (e.negated) walk_expr(*e.negated, fn, efn);
  if (e.body) walk_body(*e.body, fn, efn);
  for (const auto& w : e.withs) walk_term(w.value, fn);
}

bool is_jwt_decode(const TermPtr& t) {
  return t && t->kind == TermKind::kCall && t->name == "io.jwt.decode";
}

// The last constant segment of a reference: input.attributes.request.http.headers.authorization
std::string last_segment(const Term& ref) {
  if (ref.kind == TermKind::kVar) return ref.name;
  if (ref.kind != TermKind::kRef || ref.items.size() < 2) return "";
  const auto& last = ref.items.back();
  return last->kind == TermKind::kScalar && last->scalar.is_string() ? last->scalar.as_string()
                                                                     : "";
}

bool contains_word(const std::string& name, std::initializer_list<const char*> words) {
  std::string n = to_lower(name);
  for (const char* w : words) {
    if (n.find(w) != std::string::npos) return true;
  }
  return false;
}

}  // namespace

Result<std::vector<LintFinding>> lint_module(std::string_view source, std::string_view file) {
  auto m = parse_module(source, file);
  if (!m) return m.error();
  std::vector<LintFinding> out;
  auto add = [&](const Location& loc, const char* rule, std::string msg) {
    out.push_back({std::string(file), loc.line, rule, std::move(msg)});
  };
  bool verifies = false;
  std::vector<const Term*> decodes;
  for (const auto& r : m->rules) {
    if (r->is_default && r->value && r->value->kind == TermKind::kScalar &&
        r->value->scalar.is_true()) {
      add(r->loc, "default-allow-true",
          "default " + r->name +
              " = true grants access whenever no rule decides: fail closed with "
              "default " +
              r->name + " := false");
    }
    auto on_term = [&](const Term& t) {
      if (t.kind != TermKind::kCall) return;
      if (t.name == "io.jwt.decode_verify" || t.name.rfind("io.jwt.verify_", 0) == 0)
        verifies = true;
      if (t.name == "io.jwt.decode") {
        decodes.push_back(&t);
        if (!t.items.empty() &&
            (t.items[0]->kind == TermKind::kRef || t.items[0]->kind == TermKind::kVar) &&
            contains_word(last_segment(*t.items[0]),
                          {"authorization", "auth_header", "header", "bearer"})) {
          add(t.loc, "jwt-bearer-header",
              "io.jwt.decode gets the raw header '" + last_segment(*t.items[0]) +
                  "', which carries 'Bearer <token>': decoding fails, so every rule using it is "
                  "silently undefined; strip the scheme first (trim_prefix or split)");
        }
      }
    };
    auto on_expr = [&](const Expr& e) {
      if ((e.kind != ExprKind::kAssign && e.kind != ExprKind::kUnify) || e.terms.size() != 2)
        return;
      const TermPtr& lhs = is_jwt_decode(e.terms[1]) ? e.terms[0] : e.terms[1];
      if (!is_jwt_decode(e.terms[0]) && !is_jwt_decode(e.terms[1])) return;
      if (lhs->kind != TermKind::kArray || lhs->items.size() != 3) return;
      auto name = [&](size_t i) {
        return lhs->items[i]->kind == TermKind::kVar ? lhs->items[i]->name : "";
      };
      if (contains_word(name(0), {"valid", "verif"}) || name(0) == "ok" ||
          contains_word(name(1), {"header"}) || contains_word(name(2), {"payload", "claims"})) {
        add(e.loc, "jwt-decode-order",
            "io.jwt.decode returns [header, payload, signature], not [valid, header, payload]: '" +
                name(0) + "' gets the header (always truthy) and '" + name(2) +
                "' the signature string; use io.jwt.decode_verify to get [valid, header, payload]");
      }
    };
    for (const auto& a : r->args) walk_term(a, on_term);
    walk_term(r->key, on_term);
    walk_term(r->value, on_term);
    walk_body(r->body, on_term, on_expr);
    for (const auto& e : r->elses) {
      walk_term(e.value, on_term);
      walk_body(e.body, on_term, on_expr);
    }
  }
  if (!verifies) {
    for (const Term* t : decodes) {
      out.push_back(
          {std::string(file), t->loc.line, "jwt-decode-unverified",
           "io.jwt.decode does not verify the signature, expiry or issuer: anyone can mint this "
           "token; use io.jwt.decode_verify (or io.jwt.verify_rs256/es256) before trusting "
           "claims"});
    }
  }
  std::sort(out.begin(), out.end(),
            [](const LintFinding& a, const LintFinding& b) { return a.line < b.line; });
  return out;
}

}  // namespace gatedrill::policy
