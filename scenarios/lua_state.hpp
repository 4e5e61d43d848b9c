#pragma once
// RAII ownership of a sandboxed Lua 5.4 state: only the base, string, table, math and utf8
// libraries (no os, io, require, dofile, loadfile, load), and an instruction budget per call so
// a runaway loop in a scenario is an error, not a hung run.
#include <string>

#include "core/util/result.hpp"

struct lua_State;

namespace gatedrill {

class LuaState {
 public:
  LuaState();
  ~LuaState();
  LuaState(const LuaState&) = delete;
  LuaState& operator=(const LuaState&) = delete;

  lua_State* get() const { return state_; }

  // Loads and runs a file as chunk "@<display_name>" so messages read "file.lua:12: ...", with
  // the full name even where Lua would shorten it.
  // Errors: "scenario" with the Lua message.
  Result<void> run_file(const std::string& path, const std::string& display_name);
  // Calls the function in the registry slot `ref` with no arguments.
  Result<void> call_ref(int ref);

  // Every protected call may run at most this many VM instructions.
  static constexpr int kInstructionBudget = 50'000'000;

 private:
  lua_State* state_;
  std::string full_name_;   // the file as the user named it
  std::string short_name_;  // the same as Lua prints it in messages (long names shortened)
};

}  // namespace gatedrill
