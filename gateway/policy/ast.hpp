#pragma once
// The Rego syntax tree produced by the parser and annotated by the compiler (variable slots,
// resolved references and calls). Immutable once compiled; shared by all evaluating threads.
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "gateway/policy/value.hpp"

namespace gatedrill::policy {

struct Location {
  std::shared_ptr<const std::string> file;
  int line = 0;
  int col = 0;
  std::string str() const {
    return (file ? *file : std::string("query")) + ":" + std::to_string(line);
  }
};

struct Term;
struct Expr;
using TermPtr = std::shared_ptr<Term>;
using Body = std::vector<Expr>;

enum class TermKind {
  kScalar,
  kVar,
  kRef,
  kArray,
  kObject,
  kSet,
  kArrayCompr,
  kSetCompr,
  kObjectCompr,
  kCall
};

struct Builtin;
struct RuleSet;

struct Term {
  TermKind kind = TermKind::kScalar;
  Location loc;
  Value scalar;      // kScalar
  std::string name;  // kVar name; kCall function name ("io.jwt.decode")
  int slot = -1;     // kVar: frame slot; -1 for the globals input/data
  std::vector<TermPtr>
      items;          // kRef: head then path; kArray/kSet: items; kObject: k,v,k,v..; kCall: args
  TermPtr head, key;  // comprehensions: head (value), key (object comprehensions)
  std::shared_ptr<Body> body;  // comprehensions
  // Filled by the compiler for kCall: a builtin or a user function.
  const Builtin* builtin = nullptr;
  const RuleSet* function = nullptr;
};

struct WithModifier {
  TermPtr target;  // a ref rooted at input or data
  TermPtr value;
};

enum class ExprKind { kTerm, kUnify, kAssign, kNot, kSomeDecl, kSomeIn, kEvery };

struct Expr {
  ExprKind kind = ExprKind::kTerm;
  Location loc;
  // kTerm: [t]; kUnify/kAssign: [lhs, rhs]; kSomeIn/kEvery: [key or null, value, collection]
  std::vector<TermPtr> terms;
  std::shared_ptr<Expr> negated;  // kNot
  std::shared_ptr<Body> body;     // kEvery
  std::vector<WithModifier> withs;
};

enum class RuleKind { kComplete, kPartialSet, kPartialObject, kFunction };

struct ElseClause {
  TermPtr value;  // null: true
  Body body;
  Location loc;
};

struct Rule {
  RuleKind kind = RuleKind::kComplete;
  Location loc;
  std::vector<std::string> path;  // package path + rule name
  std::string name;
  bool is_default = false;
  std::vector<TermPtr> args;  // functions
  TermPtr key;                // partial set member / partial object key
  TermPtr value;              // null means true
  Body body;
  std::vector<ElseClause> elses;
  int num_slots = 0;
  std::vector<std::string> slot_names;
};

struct Import {
  std::vector<std::string> path;  // "data", "x", "y" or "input", ...
  std::string alias;
  Location loc;
};

struct Module {
  std::string file;
  std::vector<std::string> package;
  std::vector<Import> imports;
  std::vector<std::shared_ptr<Rule>> rules;
};

// Rule indexing: when many definitions of a rule test one input path against constants
// (`input.role == "admin"`), evaluation reads that path once and tries only the definitions
// whose constant matches, plus those without such a test (`rest`).
struct RuleIndex {
  TermPtr ref;  // input.<constant path>
  std::map<Value, std::vector<const Rule*>> by_value;
  std::vector<const Rule*> rest;
};

// All definitions of one rule path (several bodies, else chains, one default).
struct RuleSet {
  std::vector<std::string> path;
  RuleKind kind = RuleKind::kComplete;
  std::vector<const Rule*> rules;
  const Rule* default_rule = nullptr;
  size_t arity = 0;                        // functions
  std::shared_ptr<const RuleIndex> index;  // null when not worth it
};

}  // namespace gatedrill::policy
