#include "gateway/policy/input_use.hpp"

#include <set>

#include "gateway/policy/builtins.hpp"
#include "gateway/policy/compiler.hpp"

namespace gatedrill::policy {

namespace {

class InputWalker {
 public:
  InputUse result() && {
    InputUse use;
    use.whole = whole_;
    if (!whole_) use.keys.assign(keys_.begin(), keys_.end());
    use.pure = pure_;
    return use;
  }

  void rule(const Rule& r) {
    for (const auto& a : r.args) term(a);
    term(r.key);
    term(r.value);
    body(r.body);
    for (const auto& e : r.elses) {
      term(e.value);
      body(e.body);
    }
  }

 private:
  std::set<std::string, std::less<>> keys_;
  bool whole_ = false;
  bool pure_ = true;

  static bool is_input(const TermPtr& t) {
    return t && t->kind == TermKind::kVar && t->slot < 0 && t->name == "input";
  }

  void body(const Body& b) {
    for (const auto& e : b) expr(e);
  }

  void expr(const Expr& e) {
    for (const auto& t : e.terms) term(t);
    if (e.negated) expr(*e.negated);
    if (e.body) body(*e.body);
    for (const auto& w : e.withs) {
      // Replacing (part of) the input: what the body then reads is not the caller's document.
      if (w.target && w.target->kind == TermKind::kRef && is_input(w.target->items.front()))
        whole_ = true;
      term(w.value);
    }
  }

  void term(const TermPtr& t) {
    if (!t) return;
    switch (t->kind) {
      case TermKind::kVar:
        if (is_input(t)) whole_ = true;  // the document itself, not one of its keys
        return;
      case TermKind::kRef:
        if (is_input(t->items.front())) {
          const bool constant_key = t->items.size() >= 2 &&
                                    t->items[1]->kind == TermKind::kScalar &&
                                    t->items[1]->scalar.is_string();
          if (constant_key)
            keys_.insert(t->items[1]->scalar.as_string());
          else
            whole_ = true;
          for (size_t i = 1; i < t->items.size(); ++i) term(t->items[i]);
          return;
        }
        break;
      case TermKind::kCall:
        if (t->builtin && !t->builtin->pure) pure_ = false;
        break;
      default:
        break;
    }
    for (const auto& i : t->items) term(i);
    term(t->head);
    term(t->key);
    if (t->body) body(*t->body);
  }
};

}  // namespace

InputUse input_use(const Compiled& compiled, const Rule* query) {
  InputWalker walker;
  for (const auto& [path, set] : compiled.rule_sets) {
    for (const Rule* r : set->rules) walker.rule(*r);
    if (set->default_rule) walker.rule(*set->default_rule);
  }
  if (query) walker.rule(*query);
  return std::move(walker).result();
}

}  // namespace gatedrill::policy
