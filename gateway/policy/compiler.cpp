#include "gateway/policy/compiler.hpp"

#include <algorithm>
#include <functional>
#include <set>
#include <stdexcept>

#include "gateway/policy/builtins.hpp"
#include "gateway/policy/parser.hpp"

namespace gatedrill::policy {
namespace {

struct CompileFailure : std::runtime_error {
  explicit CompileFailure(const std::string& msg, std::string c = "rego_compile_error")
      : std::runtime_error(msg), code(std::move(c)) {}
  std::string code;
};

[[noreturn]] void fail(const Location& loc, const std::string& msg) {
  throw CompileFailure(loc.str() + ": " + msg);
}

std::vector<std::string> split_dots(const std::string& s) {
  std::vector<std::string> out;
  size_t start = 0;
  while (true) {
    auto p = s.find('.', start);
    out.push_back(s.substr(start, p == std::string::npos ? std::string::npos : p - start));
    if (p == std::string::npos) return out;
    start = p + 1;
  }
}

TermPtr var_term(const std::string& name, const Location& loc) {
  auto t = std::make_shared<Term>();
  t->kind = TermKind::kVar;
  t->name = name;
  t->loc = loc;
  return t;
}
TermPtr string_term(const std::string& s, const Location& loc) {
  auto t = std::make_shared<Term>();
  t->kind = TermKind::kScalar;
  t->scalar = Value::string(s);
  t->loc = loc;
  return t;
}
TermPtr ref_term(const std::vector<std::string>& path, const Location& loc) {
  auto t = std::make_shared<Term>();
  t->kind = TermKind::kRef;
  t->loc = loc;
  t->items.push_back(var_term(path[0], loc));
  for (size_t i = 1; i < path.size(); ++i) t->items.push_back(string_term(path[i], loc));
  return t;
}

using SlotSet = std::set<int>;

class RuleCompiler {
 public:
  RuleCompiler(const Compiled& c, const Module* m, Rule& r) : c_(c), m_(m), r_(r) {}

  void run(bool is_query) {
    for (auto& a : r_.args) declare_pattern(a);
    declare_body(r_.body);
    for (auto& e : r_.elses) declare_body(e.body);

    for (auto& a : r_.args) resolve(a);
    if (r_.key) resolve(r_.key);
    if (r_.value) resolve(r_.value);
    resolve_body(r_.body);
    for (auto& e : r_.elses) {
      if (e.value) resolve(e.value);
      resolve_body(e.body);
    }
    r_.num_slots = static_cast<int>(r_.slot_names.size());

    SlotSet initial;
    SlotSet unused;
    for (auto& a : r_.args) analyze(a, true, unused, initial);
    auto check_body = [&](Body& body, const TermPtr& value, const Location& loc) {
      SlotSet bound = initial;
      SlotSet head_refs;
      if (r_.key) collect_slots(r_.key, head_refs);
      if (value) collect_slots(value, head_refs);
      reorder(body, bound, head_refs);
      if (is_query) return;
      SlotSet need;
      if (r_.key) collect_head_slots(r_.key, need);
      if (value) collect_head_slots(value, need);
      for (int s : need) {
        if (!bound.count(s))
          fail(loc, "var " + r_.slot_names[static_cast<size_t>(s)] + " is unsafe");
      }
      if (r_.key) reorder_nested(r_.key, bound);
      if (value) reorder_nested(value, bound);
    };
    check_body(r_.body, r_.value, r_.loc);
    for (auto& e : r_.elses) check_body(e.body, e.value, e.loc);
    type_check(r_.body);
    for (auto& e : r_.elses) type_check(e.body);
  }

 private:
  const Compiled& c_;
  const Module* m_;
  Rule& r_;
  std::map<std::string, int> slots_;
  std::set<std::string> declared_;
  std::vector<std::map<std::string, int>> scopes_;

  int slot(const std::string& name) {
    auto it = slots_.find(name);
    if (it != slots_.end()) return it->second;
    int s = static_cast<int>(r_.slot_names.size());
    r_.slot_names.push_back(name);
    slots_[name] = s;
    return s;
  }

  void declare_pattern(const TermPtr& t) {
    if (!t) return;
    if (t->kind == TermKind::kVar) declared_.insert(t->name);
    if (t->kind == TermKind::kArray || t->kind == TermKind::kObject) {
      for (size_t i = 0; i < t->items.size(); ++i) {
        if (t->kind == TermKind::kObject && i % 2 == 0) continue;
        declare_pattern(t->items[i]);
      }
    }
  }
  void declare_body(Body& body) {
    for (auto& e : body) declare_expr(e);
  }
  void declare_expr(Expr& e) {
    switch (e.kind) {
      case ExprKind::kAssign:
        declare_pattern(e.terms[0]);
        break;
      case ExprKind::kSomeDecl:
        for (auto& t : e.terms) declare_pattern(t);
        break;
      case ExprKind::kSomeIn:
      case ExprKind::kEvery:
        declare_pattern(e.terms[0]);
        declare_pattern(e.terms[1]);
        if (e.body) declare_body(*e.body);
        break;
      case ExprKind::kNot:
        declare_expr(*e.negated);
        break;
      default:
        break;
    }
    for (auto& t : e.terms) declare_nested(t);
  }
  void declare_nested(const TermPtr& t) {
    if (!t) return;
    if (t->body) declare_body(*t->body);
    for (auto& i : t->items) declare_nested(i);
    if (t->head) declare_nested(t->head);
    if (t->key) declare_nested(t->key);
  }

  // Rule names of this module's package and import aliases become data/input refs.
  TermPtr resolve_var(const TermPtr& t) {
    const std::string& n = t->name;
    if (n == "input" || n == "data") {
      t->slot = -1;
      return t;
    }
    for (auto it = scopes_.rbegin(); it != scopes_.rend(); ++it) {
      auto found = it->find(n);
      if (found != it->end()) {
        t->slot = found->second;
        return t;
      }
    }
    if (m_ && !declared_.count(n)) {
      std::vector<std::string> path = m_->package;
      path.push_back(n);
      if (c_.rule_sets.count(path)) {
        path.insert(path.begin(), "data");
        auto r = ref_term(path, t->loc);
        r->items[0]->slot = -1;
        return r;
      }
      for (const auto& imp : m_->imports) {
        if (imp.alias == n && (imp.path[0] == "data" || imp.path[0] == "input")) {
          auto r = ref_term(imp.path, t->loc);
          r->items[0]->slot = -1;
          return r;
        }
      }
    }
    t->slot = slot(n);
    return t;
  }

  void resolve(TermPtr& t) {
    switch (t->kind) {
      case TermKind::kScalar:
        return;
      case TermKind::kVar:
        t = resolve_var(t);
        return;
      case TermKind::kRef: {
        TermPtr head = t->items[0];
        if (head->kind == TermKind::kVar) {
          head = resolve_var(head);
        } else {
          resolve(head);
        }
        std::vector<TermPtr> items;
        if (head->kind == TermKind::kRef) {
          items = head->items;
        } else {
          items.push_back(head);
        }
        for (size_t i = 1; i < t->items.size(); ++i) {
          resolve(t->items[i]);
          items.push_back(t->items[i]);
        }
        t->items = std::move(items);
        return;
      }
      case TermKind::kArray:
      case TermKind::kObject:
      case TermKind::kSet:
        for (auto& i : t->items) resolve(i);
        fold_constant(t);
        return;
      case TermKind::kArrayCompr:
      case TermKind::kSetCompr:
      case TermKind::kObjectCompr:
        push_scope(*t->body, {});
        if (t->key) resolve(t->key);
        resolve(t->head);
        resolve_body(*t->body);
        scopes_.pop_back();
        return;
      case TermKind::kCall:
        for (auto& a : t->items) resolve(a);
        bind_call(*t);
        return;
    }
  }

  // Literal collections become one value at load: no per-evaluation work, no recursion per item.
  static void fold_constant(TermPtr& t) {
    for (const auto& i : t->items) {
      if (i->kind != TermKind::kScalar) return;
    }
    Value v;
    if (t->kind == TermKind::kArray) {
      Array a;
      for (const auto& i : t->items) a.push_back(i->scalar);
      v = Value::array(std::move(a));
    } else if (t->kind == TermKind::kSet) {
      Set st;
      for (const auto& i : t->items) st.insert(i->scalar);
      v = Value::set(std::move(st));
    } else {
      Object o;
      for (size_t i = 0; i + 1 < t->items.size(); i += 2)
        o[t->items[i]->scalar] = t->items[i + 1]->scalar;
      v = Value::object(std::move(o));
    }
    auto folded = std::make_shared<Term>();
    folded->kind = TermKind::kScalar;
    folded->loc = t->loc;
    folded->scalar = std::move(v);
    t = folded;
  }

  void bind_call(Term& t) {
    std::vector<std::string> parts = split_dots(t.name);
    std::vector<std::string> path;
    if (parts[0] == "data") {
      path.assign(parts.begin() + 1, parts.end());
    } else if (m_) {
      for (const auto& imp : m_->imports) {
        if (imp.alias == parts[0] && imp.path[0] == "data") {
          path.assign(imp.path.begin() + 1, imp.path.end());
          path.insert(path.end(), parts.begin() + 1, parts.end());
        }
      }
      if (path.empty()) {
        std::vector<std::string> local = m_->package;
        local.insert(local.end(), parts.begin(), parts.end());
        if (c_.rule_sets.count(local)) path = local;
      }
    }
    if (!path.empty()) {
      auto it = c_.rule_sets.find(path);
      if (it != c_.rule_sets.end()) {
        if (it->second->kind != RuleKind::kFunction)
          fail(t.loc, t.name + " is a rule, not a function");
        if (it->second->arity != t.items.size()) {
          fail(t.loc, t.name + " takes " + std::to_string(it->second->arity) + " arguments, got " +
                          std::to_string(t.items.size()));
        }
        t.function = it->second.get();
        return;
      }
    }
    const Builtin* b = find_builtin(t.name);
    if (!b) fail(t.loc, "undefined function " + t.name + " (unsupported builtin or missing rule)");
    if (b->arity != t.items.size()) {
      fail(t.loc, t.name + " takes " + std::to_string(b->arity) + " arguments, got " +
                      std::to_string(t.items.size()));
    }
    t.builtin = b;
  }

  void resolve_body(Body& body) {
    std::set<std::string> assigned;
    for (auto& e : body) {
      if (e.kind == ExprKind::kAssign) {
        std::set<std::string> names;
        collect_pattern_names(e.terms[0], names);
        for (const auto& n : names) {
          if (n.rfind("_$", 0) != 0 && !assigned.insert(n).second)
            fail(e.loc, "var " + n + " assigned above");
        }
      }
      resolve_expr(e);
    }
  }
  // Variables declared inside a comprehension or `every` body (some, :=, the every key and
  // value) are new locals there, shadowing any outer variable of the same name, as in OPA.
  void collect_pattern_names(const TermPtr& t, std::set<std::string>& out) const {
    if (!t) return;
    if (t->kind == TermKind::kVar && t->name != "input" && t->name != "data") out.insert(t->name);
    if (t->kind == TermKind::kArray || t->kind == TermKind::kObject) {
      for (size_t i = 0; i < t->items.size(); ++i) {
        if (t->kind == TermKind::kObject && i % 2 == 0) continue;
        collect_pattern_names(t->items[i], out);
      }
    }
  }
  void push_scope(const Body& body, const std::vector<TermPtr>& extra) {
    std::set<std::string> names;
    for (const auto& t : extra) collect_pattern_names(t, names);
    for (const auto& e : body) {
      if (e.kind == ExprKind::kAssign) collect_pattern_names(e.terms[0], names);
      if (e.kind == ExprKind::kSomeDecl) {
        for (const auto& t : e.terms) collect_pattern_names(t, names);
      }
      if (e.kind == ExprKind::kSomeIn) {
        collect_pattern_names(e.terms[0], names);
        collect_pattern_names(e.terms[1], names);
      }
    }
    std::map<std::string, int> scope;
    for (const auto& n : names) {
      int s = static_cast<int>(r_.slot_names.size());
      r_.slot_names.push_back(n);
      scope[n] = s;
    }
    scopes_.push_back(std::move(scope));
  }

  void resolve_expr(Expr& e) {
    if (e.kind == ExprKind::kNot) resolve_expr(*e.negated);
    if (e.kind == ExprKind::kEvery) {
      resolve(e.terms[2]);
      push_scope(*e.body, {e.terms[0], e.terms[1]});
      if (e.terms[0]) resolve(e.terms[0]);
      resolve(e.terms[1]);
      resolve_body(*e.body);
      scopes_.pop_back();
      for (auto& w : e.withs) {
        resolve(w.target);
        resolve(w.value);
      }
      return;
    }
    for (auto& t : e.terms) {
      if (t) resolve(t);
    }
    if (e.kind == ExprKind::kSomeDecl) {
      for (auto& t : e.terms) {
        if (t->kind != TermKind::kVar || t->slot < 0)
          fail(e.loc, "'some' must declare local variables");
      }
    }
    if (e.kind == ExprKind::kAssign) check_assign_target(e.terms[0], e.loc);
    if (e.body) resolve_body(*e.body);
    for (auto& w : e.withs) {
      resolve(w.target);
      resolve(w.value);
      const Term* root =
          w.target->kind == TermKind::kRef ? w.target->items[0].get() : w.target.get();
      if (root->kind != TermKind::kVar || root->slot >= 0 ||
          (root->name != "input" && root->name != "data")) {
        fail(e.loc, "unsupported 'with' target: only input and data paths can be replaced");
      }
      if (w.target->kind == TermKind::kRef) {
        for (size_t i = 1; i < w.target->items.size(); ++i) {
          if (w.target->items[i]->kind != TermKind::kScalar)
            fail(e.loc, "'with' target paths must be constant");
        }
      }
    }
  }
  void check_assign_target(const TermPtr& t, const Location& loc) {
    if (t->kind == TermKind::kVar) {
      if (t->slot < 0) fail(loc, "cannot assign to " + t->name);
      return;
    }
    if (t->kind == TermKind::kArray) {
      for (const auto& i : t->items) check_assign_target(i, loc);
      return;
    }
    if (t->kind == TermKind::kObject) {
      for (size_t i = 1; i < t->items.size(); i += 2) check_assign_target(t->items[i], loc);
      return;
    }
    if (t->kind == TermKind::kScalar) return;
    fail(loc, "cannot assign to this expression (rule names are not variables)");
  }

  // ---- types: the part of OPA's checker that real policies trip over ------------------------
  // Locals bound from builtins with a known result shape (io.jwt.decode: [object, object,
  // string]) or from scalar literals get a scalar type; a constant-key reference into a scalar
  // is OPA's "undefined ref" type error (seed 003 reads .exp from the signature string).
  void type_check(const Body& body) {
    std::map<int, Value::Kind> types;
    auto scalar_kind = [](Value::Kind k) {
      return k == Value::Kind::kString || k == Value::Kind::kNumber || k == Value::Kind::kBool ||
             k == Value::Kind::kNull;
    };
    std::function<void(const TermPtr&)> check_term = [&](const TermPtr& t) {
      if (!t) return;
      if (t->kind == TermKind::kRef && t->items.size() > 1 && t->items[0]->kind == TermKind::kVar) {
        auto it = types.find(t->items[0]->slot);
        if (it != types.end() && scalar_kind(it->second) &&
            t->items[1]->kind == TermKind::kScalar) {
          std::string text = t->items[0]->name;
          for (size_t i = 1; i < t->items.size(); ++i) {
            const Value& k = t->items[i]->scalar;
            text += (t->items[i]->kind == TermKind::kScalar && k.is_string()) ? "." + k.as_string()
                                                                              : "[...]";
          }
          throw CompileFailure(
              t->loc.str() + ": undefined ref: " + text + " (have: " + kind_name(it->second) + ")",
              "rego_type_error");
        }
      }
      for (const auto& i : t->items) check_term(i);
      check_term(t->head);
      check_term(t->key);
    };
    for (const auto& e : body) {
      for (const auto& t : e.terms) check_term(t);
      if (e.negated) {
        for (const auto& t : e.negated->terms) check_term(t);
      }
      if (e.kind != ExprKind::kAssign && e.kind != ExprKind::kUnify) continue;
      for (int side = 0; side < 2; ++side) {
        const TermPtr& lhs = e.terms[static_cast<size_t>(side)];
        const TermPtr& rhs = e.terms[static_cast<size_t>(1 - side)];
        if (lhs->kind == TermKind::kVar && lhs->slot >= 0 && rhs->kind == TermKind::kScalar) {
          types[lhs->slot] = rhs->scalar.kind();
        }
        if (lhs->kind == TermKind::kArray && rhs->kind == TermKind::kCall && rhs->builtin) {
          std::vector<Value::Kind> shape;
          if (rhs->name == "io.jwt.decode")
            shape = {Value::Kind::kObject, Value::Kind::kObject, Value::Kind::kString};
          if (rhs->name == "io.jwt.decode_verify")
            shape = {Value::Kind::kBool, Value::Kind::kObject, Value::Kind::kObject};
          if (shape.size() == lhs->items.size()) {
            for (size_t i = 0; i < shape.size(); ++i) {
              if (lhs->items[i]->kind == TermKind::kVar && lhs->items[i]->slot >= 0)
                types[lhs->items[i]->slot] = shape[i];
            }
          }
        }
      }
    }
  }
  static const char* kind_name(Value::Kind k) {
    switch (k) {
      case Value::Kind::kString:
        return "string";
      case Value::Kind::kNumber:
        return "number";
      case Value::Kind::kBool:
        return "boolean";
      case Value::Kind::kNull:
        return "null";
      default:
        return "any";
    }
  }

  // ---- safety: which slots an expression needs bound, which it binds ----------------------
  void collect_slots(const TermPtr& t, SlotSet& out) const {
    if (!t) return;
    if (t->kind == TermKind::kVar && t->slot >= 0) out.insert(t->slot);
    for (const auto& i : t->items) collect_slots(i, out);
    if (t->head) collect_slots(t->head, out);
    if (t->key) collect_slots(t->key, out);
    if (t->body) {
      for (const auto& e : *t->body) collect_expr_slots(e, out);
    }
  }
  // The variables a rule head needs bound by the body: those outside comprehensions. A
  // comprehension in the head (`p := [x | some x in xs]`) binds its own variables; its
  // safety is checked with its body (reorder_nested).
  void collect_head_slots(const TermPtr& t, SlotSet& out) const {
    if (!t || t->body) return;
    if (t->kind == TermKind::kVar && t->slot >= 0) out.insert(t->slot);
    for (const auto& i : t->items) collect_head_slots(i, out);
  }
  void collect_expr_slots(const Expr& e, SlotSet& out) const {
    for (const auto& t : e.terms) collect_slots(t, out);
    if (e.negated) collect_expr_slots(*e.negated, out);
    if (e.body) {
      for (const auto& x : *e.body) collect_expr_slots(x, out);
    }
    for (const auto& w : e.withs) collect_slots(w.value, out);
  }

  // `outer`: slots referenced outside this expression (closures capture those).
  void analyze(const TermPtr& t, bool pattern, SlotSet& ins, SlotSet& outs,
               const SlotSet* outer = nullptr) const {
    if (!t) return;
    switch (t->kind) {
      case TermKind::kScalar:
        return;
      case TermKind::kVar:
        if (t->slot >= 0) (pattern ? outs : ins).insert(t->slot);
        return;
      case TermKind::kRef:
        analyze(t->items[0], false, ins, outs, outer);
        for (size_t i = 1; i < t->items.size(); ++i) {
          const auto& p = t->items[i];
          if (p->kind == TermKind::kVar && p->slot >= 0) {
            outs.insert(p->slot);
          } else {
            analyze(p, false, ins, outs, outer);
          }
        }
        return;
      case TermKind::kArray:
      case TermKind::kSet:
        for (const auto& i : t->items)
          analyze(i, pattern && t->kind == TermKind::kArray, ins, outs, outer);
        return;
      case TermKind::kObject:
        for (size_t i = 0; i < t->items.size(); ++i)
          analyze(t->items[i], pattern && i % 2 == 1, ins, outs, outer);
        return;
      case TermKind::kCall:
        for (const auto& a : t->items) analyze(a, false, ins, outs, outer);
        return;
      default: {
        SlotSet inner;
        collect_slots(t, inner);
        if (outer) {
          for (int s : inner) {
            if (outer->count(s)) ins.insert(s);
          }
        }
        return;
      }
    }
  }

  void analyze_expr(const Expr& e, SlotSet& ins, SlotSet& outs, const SlotSet& outer) const {
    switch (e.kind) {
      case ExprKind::kTerm:
        analyze(e.terms[0], false, ins, outs, &outer);
        break;
      case ExprKind::kUnify:
      case ExprKind::kAssign:
        analyze(e.terms[0], true, ins, outs, &outer);
        analyze(e.terms[1], true, ins, outs, &outer);
        break;
      case ExprKind::kNot: {
        SlotSet i2, o2;
        analyze_expr(*e.negated, i2, o2, outer);
        for (int s : i2) ins.insert(s);
        for (int s : o2) {
          if (outer.count(s)) ins.insert(s);
        }
        break;
      }
      case ExprKind::kSomeDecl:
        break;
      case ExprKind::kSomeIn:
        analyze(e.terms[2], false, ins, outs, &outer);
        if (e.terms[0]) analyze(e.terms[0], true, ins, outs, &outer);
        analyze(e.terms[1], true, ins, outs, &outer);
        break;
      case ExprKind::kEvery: {
        analyze(e.terms[2], false, ins, outs, &outer);
        SlotSet inner;
        for (const auto& x : *e.body) collect_expr_slots(x, inner);
        SlotSet own;
        if (e.terms[0]) collect_slots(e.terms[0], own);
        collect_slots(e.terms[1], own);
        for (int s : inner) {
          if (outer.count(s) && !own.count(s)) ins.insert(s);
        }
        break;
      }
    }
    for (const auto& w : e.withs) analyze(w.value, false, ins, outs, &outer);
  }

  void reorder(Body& body, SlotSet& bound, const SlotSet& head_refs) {
    size_t n = body.size();
    std::vector<SlotSet> refs(n);
    for (size_t i = 0; i < n; ++i) collect_expr_slots(body[i], refs[i]);
    std::vector<SlotSet> ins(n), outs(n);
    for (size_t i = 0; i < n; ++i) {
      SlotSet outer = head_refs;
      for (int s : bound) outer.insert(s);
      for (size_t j = 0; j < n; ++j) {
        if (j != i) outer.insert(refs[j].begin(), refs[j].end());
      }
      analyze_expr(body[i], ins[i], outs[i], outer);
    }
    std::vector<bool> done(n, false);
    Body ordered;
    ordered.reserve(n);
    for (size_t round = 0; round < n; ++round) {
      size_t pick = n;
      for (size_t i = 0; i < n && pick == n; ++i) {
        if (done[i]) continue;
        bool ready =
            std::all_of(ins[i].begin(), ins[i].end(), [&](int s) { return bound.count(s) > 0; });
        if (ready) pick = i;
      }
      if (pick == n) {
        for (size_t i = 0; i < n; ++i) {
          if (done[i]) continue;
          for (int s : ins[i]) {
            if (!bound.count(s))
              fail(body[i].loc, "var " + r_.slot_names[static_cast<size_t>(s)] + " is unsafe");
          }
        }
      }
      done[pick] = true;
      reorder_nested_expr(body[pick], bound);
      bound.insert(outs[pick].begin(), outs[pick].end());
      ordered.push_back(std::move(body[pick]));
    }
    body = std::move(ordered);
  }

  void reorder_nested_expr(Expr& e, const SlotSet& bound) {
    for (auto& t : e.terms) reorder_nested(t, bound);
    if (e.negated) reorder_nested_expr(*e.negated, bound);
    for (auto& w : e.withs) reorder_nested(w.value, bound);
    if (e.kind == ExprKind::kEvery) {
      SlotSet inner = bound;
      if (e.terms[0]) analyze(e.terms[0], true, inner, inner);
      analyze(e.terms[1], true, inner, inner);
      reorder(*e.body, inner, {});
    }
  }
  void reorder_nested(const TermPtr& t, const SlotSet& bound) {
    if (!t) return;
    for (auto& i : t->items) reorder_nested(i, bound);
    if (t->body) {
      SlotSet inner = bound;
      SlotSet head_refs;
      collect_slots(t->head, head_refs);
      if (t->key) collect_slots(t->key, head_refs);
      reorder(*t->body, inner, head_refs);
      SlotSet need;
      collect_slots(t->head, need);
      if (t->key) collect_slots(t->key, need);
      for (int s : need) {
        if (!inner.count(s))
          fail(t->loc, "var " + r_.slot_names[static_cast<size_t>(s)] + " is unsafe");
      }
      reorder_nested(t->head, inner);
      reorder_nested(t->key, inner);
    }
  }
};

// `input.a.b == "x"` (either side): the path key and the constant.
bool index_test(const Expr& e, std::string* key, Value* constant, TermPtr* ref) {
  if (e.kind != ExprKind::kTerm || !e.withs.empty()) return false;
  const Term& call = *e.terms[0];
  if (call.kind != TermKind::kCall || !call.builtin || call.name != "equal") return false;
  for (int side = 0; side < 2; ++side) {
    const TermPtr& r = call.items[static_cast<size_t>(side)];
    const TermPtr& c = call.items[static_cast<size_t>(1 - side)];
    if (r->kind != TermKind::kRef || c->kind != TermKind::kScalar) continue;
    const Term& head = *r->items[0];
    if (head.kind != TermKind::kVar || head.slot >= 0 || head.name != "input") continue;
    std::string k = "input";
    bool constant_path = true;
    for (size_t i = 1; i < r->items.size(); ++i) {
      if (r->items[i]->kind != TermKind::kScalar)
        constant_path = false;
      else
        k += "/" + r->items[i]->scalar.to_string();
    }
    if (!constant_path) continue;
    *key = k;
    *constant = c->scalar;
    *ref = r;
    return true;
  }
  return false;
}

void build_index(RuleSet& rs) {
  if (rs.kind == RuleKind::kFunction || rs.rules.size() < 4) return;
  // Index on the path with the most distinct constants: it splits the definitions finest.
  std::map<std::string, std::set<Value>> constants;
  for (const Rule* r : rs.rules) {
    if (!r->elses.empty()) continue;
    for (const auto& e : r->body) {
      std::string key;
      Value c;
      TermPtr ref;
      if (index_test(e, &key, &c, &ref)) constants[key].insert(c);
    }
  }
  std::string best;
  size_t best_count = 0;
  for (const auto& [k, values] : constants) {
    if (values.size() > best_count) best = k, best_count = values.size();
  }
  if (best_count < 2) return;
  auto idx = std::make_shared<RuleIndex>();
  for (const Rule* r : rs.rules) {
    bool placed = false;
    if (r->elses.empty()) {
      for (const auto& e : r->body) {
        std::string key;
        Value c;
        TermPtr ref;
        if (index_test(e, &key, &c, &ref) && key == best) {
          idx->by_value[c].push_back(r);
          if (!idx->ref) idx->ref = ref;
          placed = true;
          break;
        }
      }
    }
    if (!placed) idx->rest.push_back(r);
  }
  rs.index = std::move(idx);
}

// Rules a term depends on: constant data paths that reach a rule, and user function calls.
void collect_deps(const Compiled& c, const TermPtr& t, std::set<const RuleSet*>& out);
void collect_body_deps(const Compiled& c, const Body& b, std::set<const RuleSet*>& out) {
  for (const auto& e : b) {
    for (const auto& t : e.terms) collect_deps(c, t, out);
    if (e.negated) collect_body_deps(c, Body{*e.negated}, out);
    if (e.body) collect_body_deps(c, *e.body, out);
    for (const auto& w : e.withs) collect_deps(c, w.value, out);
  }
}
void collect_deps(const Compiled& c, const TermPtr& t, std::set<const RuleSet*>& out) {
  if (!t) return;
  if (t->kind == TermKind::kCall && t->function) out.insert(t->function);
  if (t->kind == TermKind::kRef && t->items[0]->kind == TermKind::kVar && t->items[0]->slot < 0 &&
      t->items[0]->name == "data") {
    const DataTree* node = &c.tree;
    for (size_t i = 1; i < t->items.size() && node && !node->rules; ++i) {
      const auto& p = t->items[i];
      if (p->kind != TermKind::kScalar || !p->scalar.is_string()) {
        // A variable segment may reach any rule below: depend on all of them.
        std::vector<const DataTree*> stack{node};
        while (!stack.empty()) {
          const DataTree* n = stack.back();
          stack.pop_back();
          if (n->rules) out.insert(n->rules);
          for (const auto& kv : n->children) stack.push_back(&kv.second);
        }
        node = nullptr;
        break;
      }
      auto it = node->children.find(p->scalar.as_string());
      node = it == node->children.end() ? nullptr : &it->second;
    }
    if (node && node->rules) out.insert(node->rules);
  }
  for (const auto& i : t->items) collect_deps(c, i, out);
  collect_deps(c, t->head, out);
  collect_deps(c, t->key, out);
  if (t->body) collect_body_deps(c, *t->body, out);
}

std::string rule_path(const RuleSet* rs) {
  std::string n = "data";
  for (const auto& p : rs->path) n += "." + p;
  return n;
}

// OPA rejects recursion at compile time.
void check_recursion(const Compiled& c) {
  std::map<const RuleSet*, std::set<const RuleSet*>> deps;
  for (const auto& [path, rs] : c.rule_sets) {
    auto& d = deps[rs.get()];
    for (const Rule* r : rs->rules) {
      for (const auto& a : r->args) collect_deps(c, a, d);
      collect_deps(c, r->key, d);
      collect_deps(c, r->value, d);
      collect_body_deps(c, r->body, d);
      for (const auto& e : r->elses) {
        collect_deps(c, e.value, d);
        collect_body_deps(c, e.body, d);
      }
    }
  }
  std::map<const RuleSet*, int> state;  // 1 visiting, 2 done
  std::vector<const RuleSet*> stack;
  std::function<void(const RuleSet*)> visit = [&](const RuleSet* rs) {
    state[rs] = 1;
    stack.push_back(rs);
    for (const RuleSet* next : deps[rs]) {
      if (state[next] == 1) {
        std::string cycle;
        bool in = false;
        for (const RuleSet* s : stack) {
          if (s == next) in = true;
          if (in) cycle += rule_path(s) + " -> ";
        }
        cycle += rule_path(next);
        const Location& loc = next->rules.empty() ? next->default_rule->loc : next->rules[0]->loc;
        throw CompileFailure(loc.str() + ": rule " + rule_path(next) + " is recursive: " + cycle,
                             "rego_recursion_error");
      }
      if (state[next] == 0) visit(next);
    }
    stack.pop_back();
    state[rs] = 2;
  };
  for (const auto& [path, rs] : c.rule_sets) {
    if (state[rs.get()] == 0) visit(rs.get());
  }
}

}  // namespace

Result<std::shared_ptr<Compiled>> compile_modules(std::vector<Module> modules, Value data) {
  auto c = std::make_shared<Compiled>();
  c->modules = std::move(modules);
  c->data = data.is_object() ? std::move(data) : Value::object({});
  try {
    // Group rules by path; kinds must agree.
    for (auto& m : c->modules) {
      for (auto& r : m.rules) {
        auto& slot = c->rule_sets[r->path];
        if (!slot) {
          slot = std::make_unique<RuleSet>();
          slot->path = r->path;
          slot->kind = r->kind;
          slot->arity = r->args.size();
        } else if (!r->is_default && !slot->rules.empty() && slot->kind != r->kind) {
          fail(r->loc, "rule " + r->name +
                           " is defined with different kinds (complete, set, object, function)");
        } else if (slot->rules.empty() && !r->is_default) {
          slot->kind = r->kind;
          slot->arity = r->args.size();
        }
        if (r->kind == RuleKind::kFunction && r->args.size() != slot->arity) {
          fail(r->loc, "function " + r->name + " is defined with different numbers of arguments");
        }
        if (r->is_default) {
          if (slot->default_rule)
            fail(r->loc, "multiple default rules named " + r->name + " found");
          slot->default_rule = r.get();
        } else {
          slot->rules.push_back(r.get());
        }
      }
    }
    for (auto& [path, rs] : c->rule_sets) {
      if (rs->default_rule && rs->kind != RuleKind::kComplete && !rs->rules.empty()) {
        fail(rs->default_rule->loc, "default is only allowed for complete rules");
      }
      DataTree* node = &c->tree;
      for (const auto& p : path) node = &node->children[p];
      node->rules = rs.get();
      if (!node->children.empty())
        fail(rs->rules.empty() ? rs->default_rule->loc : rs->rules[0]->loc,
             "rule " + path.back() + " conflicts with a package of the same name");
    }
    for (auto& m : c->modules) {
      for (auto& r : m.rules) {
        RuleCompiler rc(*c, &m, *r);
        rc.run(false);
        if (r->is_default) {
          SlotSet vars;
          if (r->value && r->num_slots > 0) fail(r->loc, "default rule value must be a constant");
        }
      }
    }
    check_recursion(*c);
    for (auto& [path, rs] : c->rule_sets) build_index(*rs);
  } catch (const CompileFailure& e) {
    return make_error(e.code, e.what());
  }
  return c;
}

Result<CompiledQuery> compile_query(const Compiled& compiled, std::string_view query) {
  auto body = parse_query(query);
  if (!body) return body.error();
  CompiledQuery q;
  q.rule.body = std::move(*body);
  q.rule.name = "query";
  try {
    RuleCompiler rc(compiled, nullptr, q.rule);
    rc.run(true);
  } catch (const CompileFailure& e) {
    return make_error(e.code, e.what());
  }
  return q;
}

}  // namespace gatedrill::policy
