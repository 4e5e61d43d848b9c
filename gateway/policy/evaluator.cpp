#include "gateway/policy/evaluator.hpp"

#include <map>

#include "core/time/time_source.hpp"
#include "gateway/policy/builtins.hpp"
#include "gateway/policy/function_ref.hpp"

namespace gatedrill::policy {
namespace {

// Halts the whole evaluation (conflicts, timeouts): caught once in evaluate_query.
struct Halt {
  std::string code;
  std::string message;
};

// The variable slots of one rule body. Most bodies have a handful of variables: those live
// inline (no allocation per rule tried); larger bodies spill to the heap.
struct Frame {
  explicit Frame(int n) {
    auto count = static_cast<size_t>(n);
    if (count > kInline) {
      heap_vals.resize(count);
      heap_bound.resize(count, 0);
      vals = heap_vals.data();
      bound = heap_bound.data();
    }
  }
  Frame(const Frame&) = delete;
  Frame& operator=(const Frame&) = delete;

  static constexpr size_t kInline = 8;
  Value inline_vals[kInline];
  char inline_bound[kInline] = {};
  std::vector<Value> heap_vals;
  std::vector<char> heap_bound;
  Value* vals = inline_vals;
  char* bound = inline_bound;
};

// Each rule's value, computed once per query (and per `with` scope). A query touches a few
// rules: a flat list searched linearly beats a tree node per rule.
struct CacheEntry {
  bool done = false;
  bool in_progress = false;
  std::optional<Value> value;
};
class RuleCache {
 public:
  CacheEntry& operator[](const RuleSet* rs) {
    for (auto& [key, entry] : entries_) {
      if (key == rs) return entry;
    }
    return entries_.emplace_back(rs, CacheEntry{}).second;
  }
  void clear() { entries_.clear(); }

 private:
  std::vector<std::pair<const RuleSet*, CacheEntry>> entries_;
};

using K = FunctionRef<bool()>;
using VK = FunctionRef<bool(const Value&)>;

struct DataOverride {
  std::vector<std::string> path;
  Value value;
};

Value set_path(const Value& base, const std::vector<std::string>& path, size_t i, const Value& v) {
  if (i == path.size()) return v;
  Object o = base.is_object() ? base.as_object() : Object{};
  Value key = Value::string(path[i]);
  auto it = o.find(key);
  Value child = it == o.end() ? Value() : it->second;
  o[key] = set_path(child, path, i + 1, v);
  return Value::object(std::move(o));
}

constexpr int kMaxDepth = 256;

class Evaluator {
 public:
  Evaluator(const Compiled& c, std::optional<Value> input, const EvalOptions& o)
      : c_(c), input_(std::move(input)), opts_(o) {
    bctx_.time = o.time;
    if (o.time && o.timeout_ns > 0) start_ns_ = o.time->monotonic_ns();
  }

  std::vector<Solution> run(const CompiledQuery& q) {
    const Rule& r = q.rule;
    Frame fr(r.num_slots);
    std::vector<Solution> out;
    std::vector<Value> vals(r.body.size());
    query_body(r.body, 0, fr, vals, [&]() {
      Solution s;
      s.expressions = vals;
      for (size_t i = 0; i < r.slot_names.size(); ++i) {
        if (fr.bound[i] && r.slot_names[i].rfind("_$", 0) != 0)
          s.bindings.emplace_back(r.slot_names[i], fr.vals[i]);
      }
      out.push_back(std::move(s));
      return false;
    });
    return out;
  }

  std::vector<std::string> builtin_errors;

 private:
  const Compiled& c_;
  std::optional<Value> input_;
  EvalOptions opts_;
  BuiltinContext bctx_;
  std::vector<std::pair<Frame*, int>> trail_;
  std::vector<DataOverride> overrides_;
  RuleCache cache_;
  int64_t start_ns_ = 0;
  uint32_t steps_ = 0;
  int depth_ = 0;

  void tick() {
    if (opts_.timeout_ns <= 0 || !opts_.time || (++steps_ & 127) != 0) return;
    if (opts_.time->monotonic_ns() - start_ns_ > opts_.timeout_ns) {
      throw Halt{"eval_timeout", "policy evaluation exceeded its time limit"};
    }
  }

  void bind(Frame& f, int s, const Value& v) {
    f.vals[static_cast<size_t>(s)] = v;
    f.bound[static_cast<size_t>(s)] = 1;
    trail_.emplace_back(&f, s);
  }
  void undo(size_t mark) {
    while (trail_.size() > mark) {
      auto [f, s] = trail_.back();
      f->bound[static_cast<size_t>(s)] = 0;
      f->vals[static_cast<size_t>(s)] = Value();
      trail_.pop_back();
    }
  }
  bool unbound(const Term& t, const Frame& f) const {
    return t.kind == TermKind::kVar && t.slot >= 0 && !f.bound[static_cast<size_t>(t.slot)];
  }

  // ---- bodies and expressions --------------------------------------------------------------
  bool query_body(const Body& b, size_t i, Frame& f, std::vector<Value>& vals, const K& k) {
    if (i == b.size()) return k();
    const Expr& e = b[i];
    auto next = [&]() { return query_body(b, i + 1, f, vals, k); };
    if (e.kind == ExprKind::kTerm && e.withs.empty()) {
      const Term& t = *e.terms[0];
      bool capture = t.kind != TermKind::kCall;  // refs report false as a value; calls must hold
      return eval_term(e.terms[0], f, [&](const Value& v) {
        if (!capture && v.is_false()) return false;
        vals[i] = v;
        return next();
      });
    }
    return eval_expr(e, f, [&]() {
      vals[i] = Value::boolean(true);
      return next();
    });
  }

  bool eval_body(const Body& b, size_t i, Frame& f, const K& k) {
    if (i == b.size()) return k();
    return eval_expr(b[i], f, [&]() { return eval_body(b, i + 1, f, k); });
  }

  bool eval_expr(const Expr& e, Frame& f, const K& k) {
    tick();
    if (!e.withs.empty()) return eval_with(e, f, k);
    return eval_expr_core(e, f, k);
  }

  bool eval_with(const Expr& e, Frame& f, const K& k) {
    std::optional<Value> saved_input = input_;
    std::vector<DataOverride> saved_over = overrides_;
    std::optional<Value> new_input = input_;
    std::vector<DataOverride> new_over = overrides_;
    for (const auto& w : e.withs) {
      std::optional<Value> v;
      eval_term(w.value, f, [&](const Value& x) {
        v = x;
        return true;
      });
      if (!v) return false;
      std::vector<std::string> path;
      const Term* root = w.target.get();
      if (w.target->kind == TermKind::kRef) {
        root = w.target->items[0].get();
        for (size_t i = 1; i < w.target->items.size(); ++i) {
          const Value& s = w.target->items[i]->scalar;
          path.push_back(s.is_string() ? s.as_string() : s.to_string());
        }
      }
      if (root->name == "input") {
        new_input = set_path(new_input ? *new_input : Value(), path, 0, *v);
      } else {
        new_over.push_back({path, *v});
      }
    }
    auto outer_cache = std::move(cache_);
    cache_.clear();
    input_ = new_input;
    overrides_ = new_over;
    bool r = eval_expr_core(e, f, [&]() {
      // The rest of the body runs outside the `with` scope.
      auto inner_cache = std::move(cache_);
      cache_ = std::move(outer_cache);
      input_ = saved_input;
      overrides_ = saved_over;
      bool stop = k();
      outer_cache = std::move(cache_);
      cache_ = std::move(inner_cache);
      input_ = new_input;
      overrides_ = new_over;
      return stop;
    });
    cache_ = std::move(outer_cache);
    input_ = saved_input;
    overrides_ = saved_over;
    return r;
  }

  bool eval_expr_core(const Expr& e, Frame& f, const K& k) {
    switch (e.kind) {
      case ExprKind::kTerm:
        return eval_term(e.terms[0], f, [&](const Value& v) { return v.is_false() ? false : k(); });
      case ExprKind::kUnify:
      case ExprKind::kAssign:
        return unify_terms(e.terms[0], e.terms[1], f, k);
      case ExprKind::kNot: {
        size_t mark = trail_.size();
        bool found = false;
        eval_expr(*e.negated, f, [&]() {
          found = true;
          return true;
        });
        undo(mark);
        return found ? false : k();
      }
      case ExprKind::kSomeDecl:
        return k();
      case ExprKind::kSomeIn:
        return eval_term(e.terms[2], f, [&](const Value& coll) {
          return each_member(coll, [&](const Value& key, const Value& val) {
            auto with_val = [&]() { return unify_value(e.terms[1], val, f, k); };
            if (e.terms[0]) return unify_value(e.terms[0], key, f, with_val);
            return with_val();
          });
        });
      case ExprKind::kEvery:
        return eval_term(e.terms[2], f, [&](const Value& coll) {
          bool all = true;
          each_member(coll, [&](const Value& key, const Value& val) {
            size_t mark = trail_.size();
            bool ok = false;
            auto body = [&]() {
              return eval_body(*e.body, 0, f, [&]() {
                ok = true;
                return true;
              });
            };
            auto with_val = [&]() { return unify_value(e.terms[1], val, f, body); };
            if (e.terms[0]) {
              unify_value(e.terms[0], key, f, with_val);
            } else {
              with_val();
            }
            undo(mark);
            if (!ok) all = false;
            return !ok;
          });
          return all ? k() : false;
        });
    }
    return false;
  }

  // Calls fn(key, value) for each member: array (index, item), set (item, item), object (k, v).
  template <class Fn>
  bool each_member(const Value& coll, Fn&& fn) {
    if (coll.is_array()) {
      const auto& a = coll.as_array();
      for (size_t i = 0; i < a.size(); ++i) {
        if (fn(Value::integer(static_cast<int64_t>(i)), a[i])) return true;
      }
    } else if (coll.is_set()) {
      for (const auto& m : coll.as_set()) {
        if (fn(m, m)) return true;
      }
    } else if (coll.is_object()) {
      for (const auto& [key, val] : coll.as_object()) {
        if (fn(key, val)) return true;
      }
    }
    return false;
  }

  // ---- unification ---------------------------------------------------------------------------
  bool has_unbound(const TermPtr& t, const Frame& f) const {
    if (unbound(*t, f)) return true;
    if (t->kind == TermKind::kArray) {
      for (const auto& i : t->items) {
        if (has_unbound(i, f)) return true;
      }
    }
    if (t->kind == TermKind::kObject) {
      for (size_t i = 1; i < t->items.size(); i += 2) {
        if (has_unbound(t->items[i], f)) return true;
      }
    }
    return false;
  }

  bool unify_terms(const TermPtr& a, const TermPtr& b, Frame& f, const K& k) {
    // Variables on both sides (`[x, "world"] = ["hello", y]`): unify element by element.
    if (a->kind == TermKind::kArray && b->kind == TermKind::kArray && has_unbound(a, f) &&
        has_unbound(b, f)) {
      if (a->items.size() != b->items.size()) return false;
      return unify_pairs(a->items, b->items, 0, false, f, k);
    }
    if (has_unbound(a, f)) {
      return eval_term(b, f, [&](const Value& v) { return unify_value(a, v, f, k); });
    }
    return eval_term(a, f, [&](const Value& v) { return unify_value(b, v, f, k); });
  }

  // Pairs in order, except that a pair of two unbound variables waits for a second pass
  // (`[x, y, 1] = [y, 2, x]`: y gets 2, then x = y).
  bool unify_pairs(const std::vector<TermPtr>& as, const std::vector<TermPtr>& bs, size_t i,
                   bool second_pass, Frame& f, const K& k) {
    if (i == as.size()) return second_pass ? k() : unify_pairs(as, bs, 0, true, f, k);
    bool both_unbound = unbound(*as[i], f) && unbound(*bs[i], f);
    bool var_pair = as[i]->kind == TermKind::kVar && bs[i]->kind == TermKind::kVar;
    // First pass: all but unbound variable pairs. Second: the variable pairs (checking again
    // one that was bound the first time is harmless: equal values unify).
    bool now = second_pass ? var_pair : !(var_pair && both_unbound);
    if (second_pass && both_unbound) {
      throw Halt{"eval_unsafe_var", as[i]->loc.str() + ": var " + as[i]->name + " is unsafe"};
    }
    if (!now) return unify_pairs(as, bs, i + 1, second_pass, f, k);
    return unify_terms(as[i], bs[i], f,
                       [&]() { return unify_pairs(as, bs, i + 1, second_pass, f, k); });
  }

  bool unify_value(const TermPtr& t, const Value& v, Frame& f, const K& k) {
    switch (t->kind) {
      case TermKind::kVar:
        if (t->slot >= 0) {
          if (f.bound[static_cast<size_t>(t->slot)])
            return f.vals[static_cast<size_t>(t->slot)] == v ? k() : false;
          size_t mark = trail_.size();
          bind(f, t->slot, v);
          bool r = k();
          undo(mark);
          return r;
        }
        break;
      case TermKind::kArray:
        if (!has_unbound(t, f)) break;
        if (!v.is_array() || v.as_array().size() != t->items.size()) return false;
        return unify_items(t->items, 0, v.as_array(), f, k);
      case TermKind::kObject:
        if (!has_unbound(t, f)) break;
        if (!v.is_object() || v.as_object().size() * 2 != t->items.size()) return false;
        return unify_object(t->items, 0, v, f, k);
      default:
        break;
    }
    return eval_term(t, f, [&](const Value& x) { return x == v ? k() : false; });
  }

  bool unify_items(const std::vector<TermPtr>& items, size_t i, const Array& vals, Frame& f,
                   const K& k) {
    if (i == items.size()) return k();
    return unify_value(items[i], vals[i], f,
                       [&]() { return unify_items(items, i + 1, vals, f, k); });
  }

  bool unify_object(const std::vector<TermPtr>& items, size_t i, const Value& obj, Frame& f,
                    const K& k) {
    if (i == items.size()) return k();
    return eval_term(items[i], f, [&](const Value& key) {
      const Value* v = obj.get(key);
      if (!v) return false;
      return unify_value(items[i + 1], *v, f,
                         [&]() { return unify_object(items, i + 2, obj, f, k); });
    });
  }

  // ---- terms ------------------------------------------------------------------------------------
  using ItemsK = FunctionRef<bool(std::vector<Value>&)>;
  bool eval_items(const std::vector<TermPtr>& items, size_t i, std::vector<Value>& acc, Frame& f,
                  const ItemsK& done) {
    if (i == 0) acc.reserve(items.size());
    if (i == items.size()) return done(acc);
    return eval_term(items[i], f, [&](const Value& v) {
      acc.push_back(v);
      bool r = eval_items(items, i + 1, acc, f, done);
      acc.pop_back();
      return r;
    });
  }

  bool eval_term(const TermPtr& tp, Frame& f, const VK& vk) {
    tick();
    const Term& t = *tp;
    switch (t.kind) {
      case TermKind::kScalar:
        return vk(t.scalar);
      case TermKind::kVar:
        if (t.slot < 0) {
          if (t.name == "input") {
            if (!input_) return false;
            Value in = *input_;
            return vk(in);
          }
          std::vector<std::string> path;
          return eval_data({tp}, 1, &c_.tree, &c_.data, path, f, vk);
        }
        if (!f.bound[static_cast<size_t>(t.slot)]) {
          throw Halt{"eval_unsafe_var", t.loc.str() + ": var " + t.name + " is unsafe"};
        }
        return vk(f.vals[static_cast<size_t>(t.slot)]);
      case TermKind::kRef:
        return eval_ref(t, f, vk);
      case TermKind::kArray: {
        std::vector<Value> acc;
        return eval_items(t.items, 0, acc, f,
                          [&](std::vector<Value>& vs) { return vk(Value::array(vs)); });
      }
      case TermKind::kSet: {
        std::vector<Value> acc;
        return eval_items(t.items, 0, acc, f, [&](std::vector<Value>& vs) {
          return vk(Value::set(Set(vs.begin(), vs.end())));
        });
      }
      case TermKind::kObject: {
        std::vector<Value> acc;
        return eval_items(t.items, 0, acc, f, [&](std::vector<Value>& vs) {
          Object o;
          for (size_t i = 0; i + 1 < vs.size(); i += 2) o[vs[i]] = vs[i + 1];
          return vk(Value::object(std::move(o)));
        });
      }
      case TermKind::kArrayCompr: {
        Array out;
        size_t mark = trail_.size();
        eval_body(*t.body, 0, f, [&]() {
          return eval_term(t.head, f, [&](const Value& v) {
            out.push_back(v);
            return false;
          });
        });
        undo(mark);
        return vk(Value::array(std::move(out)));
      }
      case TermKind::kSetCompr: {
        Set out;
        size_t mark = trail_.size();
        eval_body(*t.body, 0, f, [&]() {
          return eval_term(t.head, f, [&](const Value& v) {
            out.insert(v);
            return false;
          });
        });
        undo(mark);
        return vk(Value::set(std::move(out)));
      }
      case TermKind::kObjectCompr: {
        std::map<Value, Value> out;  // built in any order, possibly large: a tree, then flat
        size_t mark = trail_.size();
        eval_body(*t.body, 0, f, [&]() {
          return eval_term(t.key, f, [&](const Value& key) {
            return eval_term(t.head, f, [&](const Value& v) {
              auto [it, inserted] = out.emplace(key, v);
              if (!inserted && it->second != v) {
                throw Halt{"eval_conflict_error", t.loc.str() + ": object keys must be unique"};
              }
              return false;
            });
          });
        });
        undo(mark);
        return vk(Value::object(Object::from_sorted(out.begin(), out.end())));
      }
      case TermKind::kCall: {
        std::vector<Value> acc;
        return eval_items(t.items, 0, acc, f, [&](std::vector<Value>& args) {
          if (t.function) return call_function(*t.function, args, t.loc, vk);
          bctx_.error.clear();
          auto r = t.builtin->fn(args, bctx_);
          if (!r) {
            if (!bctx_.error.empty()) builtin_errors.push_back(t.loc.str() + ": " + bctx_.error);
            return false;
          }
          return vk(*r);
        });
      }
    }
    return false;
  }

  bool eval_ref(const Term& t, Frame& f, const VK& vk) {
    const auto& items = t.items;
    const Term& head = *items[0];
    if (head.kind == TermKind::kVar && head.slot < 0) {
      if (head.name == "data") {
        std::vector<std::string> path;
        return eval_data(items, 1, &c_.tree, &c_.data, path, f, vk);
      }
      if (!input_) return false;
      Value in = *input_;
      return eval_path(in, items, 1, f, vk);
    }
    return eval_term(items[0], f, [&](const Value& v) { return eval_path(v, items, 1, f, vk); });
  }

  bool eval_path(const Value& v, const std::vector<TermPtr>& items, size_t i, Frame& f,
                 const VK& vk) {
    if (i == items.size()) return vk(v);
    const TermPtr& p = items[i];
    if (unbound(*p, f)) {
      return each_member(v, [&](const Value& key, const Value& child) {
        size_t mark = trail_.size();
        bind(f, p->slot, key);
        bool r = eval_path(child, items, i + 1, f, vk);
        undo(mark);
        return r;
      });
    }
    return eval_term(p, f, [&](const Value& key) {
      const Value* c = v.get(key);
      if (!c) return false;
      return eval_path(*c, items, i + 1, f, vk);
    });
  }

  // Walks the data document: packages and rules (virtual) over JSON data (base).
  bool eval_data(const std::vector<TermPtr>& items, size_t i, const DataTree* node,
                 const Value* base, std::vector<std::string>& path, Frame& f, const VK& vk) {
    for (const auto& o : overrides_) {
      if (o.path == path) return eval_path(o.value, items, i, f, vk);
    }
    if (node && node->rules) {
      if (node->rules->kind == RuleKind::kFunction) return false;
      auto v = rule_value(*node->rules);
      if (!v) return false;
      Value copy = *v;
      return eval_path(copy, items, i, f, vk);
    }
    if (!node && !base) return false;
    if (!node && overrides_.empty()) return eval_path(*base, items, i, f, vk);
    if (i == items.size()) {
      Value m = materialize(node, base, path);
      return vk(m);
    }
    const TermPtr& p = items[i];
    auto step = [&](const Value& key) -> bool {
      const DataTree* child = nullptr;
      if (node && key.is_string()) {
        auto it = node->children.find(key.as_string());
        if (it != node->children.end()) child = &it->second;
      }
      const Value* bchild = base ? base->get(key) : nullptr;
      if (!child && !bchild && overrides_.empty()) return false;
      // The path is only compared with `with data...` overrides; those do not change during
      // one walk (a `with` restores them before returning), so without any, skip the copies.
      if (overrides_.empty()) return eval_data(items, i + 1, child, bchild, path, f, vk);
      path.push_back(key.is_string() ? key.as_string() : key.to_string());
      bool r = eval_data(items, i + 1, child, bchild, path, f, vk);
      path.pop_back();
      return r;
    };
    if (unbound(*p, f)) {
      Set keys;
      if (node) {
        for (const auto& kv : node->children) keys.insert(Value::string(kv.first));
      }
      if (base && base->is_object()) {
        for (const auto& kv : base->as_object()) keys.insert(kv.first);
      }
      for (const auto& key : keys) {
        size_t mark = trail_.size();
        bind(f, p->slot, key);
        bool r = step(key);
        undo(mark);
        if (r) return true;
      }
      return false;
    }
    return eval_term(p, f, step);
  }

  Value materialize(const DataTree* node, const Value* base, std::vector<std::string>& path) {
    if (!node) return base ? *base : Value::object({});
    Object out;
    if (base && base->is_object()) out = base->as_object();
    for (const auto& [name, child] : node->children) {
      Value key = Value::string(name);
      if (child.rules) {
        if (child.rules->kind == RuleKind::kFunction) continue;
        if (auto v = rule_value(*child.rules)) out[key] = *v;
        continue;
      }
      const Value* bchild = base ? base->get(key) : nullptr;
      path.push_back(name);
      out[key] = materialize(&child, bchild, path);
      path.pop_back();
    }
    return Value::object(std::move(out));
  }

  // ---- rules ------------------------------------------------------------------------------
  std::string rule_name(const RuleSet& rs) const {
    std::string n = "data";
    for (const auto& p : rs.path) n += "." + p;
    return n;
  }

  struct DepthGuard {
    explicit DepthGuard(int& d) : d_(d) {
      if (++d_ > kMaxDepth) {
        --d_;
        throw Halt{"eval_recursion", "policy evaluation nested too deeply (recursive rules?)"};
      }
    }
    ~DepthGuard() { --d_; }
    int& d_;
  };

  bool head_value(const TermPtr& value, Frame& f, const VK& vk) {
    if (!value) return vk(Value::boolean(true));
    return eval_term(value, f, vk);
  }

  // The definitions worth trying: all of them, or through the rule index only those whose
  // constant matches the input value (plus the unindexed ones), in definition order. Two
  // lists, referenced rather than copied (this runs for every rule evaluated).
  struct Candidates {
    const std::vector<const Rule*>* first = nullptr;
    const std::vector<const Rule*>* second = nullptr;
    template <class Fn>
    void each(Fn&& fn) const {
      for (const Rule* r : *first) fn(r);
      if (second) {
        for (const Rule* r : *second) fn(r);
      }
    }
  };
  Candidates candidates(const RuleSet& rs) {
    if (!rs.index) return {&rs.rules, nullptr};
    const RuleIndex& idx = *rs.index;
    std::optional<Value> v;
    Frame none(0);
    eval_term(idx.ref, none, [&](const Value& x) {
      v = x;
      return true;
    });
    if (!v) return {&idx.rest, nullptr};
    auto it = idx.by_value.find(*v);
    if (it == idx.by_value.end()) return {&idx.rest, nullptr};
    return {&it->second, idx.rest.empty() ? nullptr : &idx.rest};
  }

  std::optional<Value> rule_value(const RuleSet& rs) {
    {
      auto& entry = cache_[&rs];
      if (entry.done) return entry.value;
      if (entry.in_progress)
        throw Halt{"eval_recursion",
                   "rego_recursion_error: " + rule_name(rs) + " refers to itself"};
      entry.in_progress = true;
    }
    DepthGuard guard(depth_);
    std::optional<Value> result;
    switch (rs.kind) {
      case RuleKind::kComplete:
        result = eval_complete(rs);
        break;
      case RuleKind::kPartialSet: {
        Set out;
        candidates(rs).each([&](const Rule* r) {
          Frame fr(r->num_slots);
          size_t mark = trail_.size();
          eval_body(r->body, 0, fr, [&]() {
            return eval_term(r->key, fr, [&](const Value& v) {
              out.insert(v);
              return false;
            });
          });
          undo(mark);
        });
        result = Value::set(std::move(out));
        break;
      }
      case RuleKind::kPartialObject: {
        std::map<Value, Value> out;  // built in any order, possibly large: a tree, then flat
        candidates(rs).each([&](const Rule* r) {
          Frame fr(r->num_slots);
          size_t mark = trail_.size();
          eval_body(r->body, 0, fr, [&]() {
            return eval_term(r->key, fr, [&](const Value& key) {
              return eval_term(r->value, fr, [&](const Value& v) {
                auto [it, inserted] = out.emplace(key, v);
                if (!inserted && it->second != v) {
                  throw Halt{"eval_conflict_error",
                             r->loc.str() + ": object keys must be unique (" + rule_name(rs) + ")"};
                }
                return false;
              });
            });
          });
          undo(mark);
        });
        result = Value::object(Object::from_sorted(out.begin(), out.end()));
        break;
      }
      case RuleKind::kFunction:
        break;
    }
    auto& entry = cache_[&rs];
    entry.in_progress = false;
    entry.done = true;
    entry.value = result;
    return result;
  }

  std::optional<Value> eval_complete(const RuleSet& rs) {
    std::optional<Value> result;
    candidates(rs).each([&](const Rule* r) {
      Frame fr(r->num_slots);
      size_t mark = trail_.size();
      auto on_value = [&](const Value& v) {
        if (result && *result != v) {
          throw Halt{"eval_conflict_error",
                     r->loc.str() + ": complete rules must not produce multiple outputs (" +
                         rule_name(rs) + ")"};
        }
        result = v;
        return false;
      };
      bool any = false;
      eval_body(r->body, 0, fr, [&]() {
        any = true;
        return head_value(r->value, fr, on_value);
      });
      for (size_t i = 0; !any && i < r->elses.size(); ++i) {
        const ElseClause& e = r->elses[i];
        eval_body(e.body, 0, fr, [&]() {
          any = true;
          return head_value(e.value, fr, on_value);
        });
      }
      undo(mark);
    });
    if (!result && rs.default_rule) {
      Frame fr(rs.default_rule->num_slots);
      head_value(rs.default_rule->value, fr, [&](const Value& v) {
        result = v;
        return true;
      });
    }
    return result;
  }

  bool unify_args(const std::vector<TermPtr>& params, size_t i, const std::vector<Value>& args,
                  Frame& f, const K& k) {
    if (i == params.size()) return k();
    return unify_value(params[i], args[i], f,
                       [&]() { return unify_args(params, i + 1, args, f, k); });
  }

  bool call_function(const RuleSet& rs, const std::vector<Value>& args, const Location& loc,
                     const VK& vk) {
    DepthGuard guard(depth_);
    std::optional<Value> result;
    for (const Rule* r : rs.rules) {
      Frame fr(r->num_slots);
      size_t mark = trail_.size();
      auto on_value = [&](const Value& v) {
        if (result && *result != v) {
          throw Halt{"eval_conflict_error",
                     loc.str() + ": functions must not produce multiple outputs for same inputs (" +
                         rule_name(rs) + ")"};
        }
        result = v;
        return false;
      };
      unify_args(r->args, 0, args, fr, [&]() {
        bool any = false;
        eval_body(r->body, 0, fr, [&]() {
          any = true;
          return head_value(r->value, fr, on_value);
        });
        for (size_t i = 0; !any && i < r->elses.size(); ++i) {
          eval_body(r->elses[i].body, 0, fr, [&]() {
            any = true;
            return head_value(r->elses[i].value, fr, on_value);
          });
        }
        return false;
      });
      undo(mark);
    }
    if (!result) return false;
    Value v = *result;
    return vk(v);
  }
};

}  // namespace

Result<std::vector<Solution>> evaluate_query(const Compiled& compiled, const CompiledQuery& query,
                                             const std::optional<Value>& input,
                                             const EvalOptions& options,
                                             std::vector<std::string>* builtin_errors) {
  Evaluator ev(compiled, input, options);
  try {
    auto out = ev.run(query);
    if (builtin_errors) *builtin_errors = std::move(ev.builtin_errors);
    return out;
  } catch (const Halt& h) {
    if (builtin_errors) *builtin_errors = std::move(ev.builtin_errors);
    return make_error(h.code, h.message);
  }
}

}  // namespace gatedrill::policy
