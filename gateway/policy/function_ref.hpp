#pragma once
// A non-owning reference to a callable, for the evaluator's continuations. The evaluator passes
// a continuation down on every step and calls it before the step returns, so nothing needs to
// own it; std::function would heap-allocate each capturing lambda (most of the evaluator's
// allocations before this). Never store a FunctionRef beyond the call it was passed to.
#include <memory>
#include <type_traits>
#include <utility>

namespace gatedrill::policy {

template <class Sig>
class FunctionRef;

template <class R, class... Args>
class FunctionRef<R(Args...)> {
 public:
  template <class F, class = std::enable_if_t<!std::is_same_v<std::decay_t<F>, FunctionRef> &&
                                              std::is_invocable_r_v<R, F&, Args...>>>
  FunctionRef(F&& f) noexcept  // NOLINT(google-explicit-constructor): used like std::function
      : object_(const_cast<void*>(static_cast<const void*>(std::addressof(f)))),
        call_([](void* o, Args... args) -> R {
          return (*static_cast<std::remove_reference_t<F>*>(o))(std::forward<Args>(args)...);
        }) {}

  R operator()(Args... args) const { return call_(object_, std::forward<Args>(args)...); }

 private:
  void* object_;
  R (*call_)(void*, Args...);
};

}  // namespace gatedrill::policy
