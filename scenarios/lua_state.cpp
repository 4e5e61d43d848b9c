#include "scenarios/lua_state.hpp"

#include <lua.hpp>

#include <fstream>
#include <sstream>

namespace gatedrill {

namespace {

void budget_hook(lua_State* L, lua_Debug*) {
  luaL_error(L, "the script ran too long (more than %d instructions): an endless loop?",
             LuaState::kInstructionBudget);
}

// Prefixes a traceback-free message with where it happened (Lua already does for errors raised
// with luaL_error; runtime errors from pcall keep theirs).
int message_handler(lua_State* L) {
  if (!lua_isstring(L, 1)) lua_pushstring(L, "(error object is not a string)");
  return 1;
}

Result<void> protected_call(lua_State* L, int nargs) {
  int base = lua_gettop(L) - nargs;
  lua_pushcfunction(L, message_handler);
  lua_insert(L, base);
  lua_sethook(L, budget_hook, LUA_MASKCOUNT, LuaState::kInstructionBudget);
  int status = lua_pcall(L, nargs, 0, base);
  lua_sethook(L, nullptr, 0, 0);
  lua_remove(L, base);
  if (status != LUA_OK) {
    std::string message = lua_tostring(L, -1) ? lua_tostring(L, -1) : "unknown Lua error";
    lua_pop(L, 1);
    return make_error("scenario", message);
  }
  return {};
}

}  // namespace

LuaState::LuaState() : state_(luaL_newstate()) {
  if (!state_) throw std::bad_alloc();
  const luaL_Reg libs[] = {{LUA_GNAME, luaopen_base},       {LUA_TABLIBNAME, luaopen_table},
                           {LUA_STRLIBNAME, luaopen_string}, {LUA_MATHLIBNAME, luaopen_math},
                           {LUA_UTF8LIBNAME, luaopen_utf8}};
  for (const auto& lib : libs) {
    luaL_requiref(state_, lib.name, lib.func, 1);
    lua_pop(state_, 1);
  }
  // No file or code loading from inside a scenario: a scenario declares, it does not install.
  for (const char* name : {"dofile", "loadfile", "load", "require", "collectgarbage"}) {
    lua_pushnil(state_);
    lua_setglobal(state_, name);
  }
}

LuaState::~LuaState() { lua_close(state_); }

Result<void> LuaState::run_file(const std::string& path, const std::string& display_name) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return make_error("scenario", path + ": cannot read the file");
  std::stringstream buffer;
  buffer << in.rdbuf();
  std::string text = buffer.str();
  std::string chunk = "@" + display_name;
  // Text only ("t"): a precompiled chunk could bypass every check.
  if (luaL_loadbufferx(state_, text.data(), text.size(), chunk.c_str(), "t") != LUA_OK) {
    std::string message = lua_tostring(state_, -1);
    lua_pop(state_, 1);
    return make_error("scenario", message);
  }
  return protected_call(state_, 0);
}

Result<void> LuaState::call_ref(int ref) {
  lua_rawgeti(state_, LUA_REGISTRYINDEX, ref);
  return protected_call(state_, 0);
}

}  // namespace gatedrill
