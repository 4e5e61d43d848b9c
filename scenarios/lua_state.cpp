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

// Lua shortens long chunk names in messages to "...tail" (LUA_IDSIZE); users should see the
// path they gave, so every message gets the full name back.
std::string with_full_name(std::string message, const std::string& short_name,
                           const std::string& full_name) {
  if (short_name.empty() || short_name == full_name) return message;
  const std::string from = short_name + ":";
  const std::string to = full_name + ":";
  for (size_t at = message.find(from); at != std::string::npos;
       at = message.find(from, at + to.size()))
    message.replace(at, from.size(), to);
  return message;
}

Result<void> protected_call(lua_State* L, int nargs, const std::string& short_name,
                            const std::string& full_name) {
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
    return make_error("scenario", with_full_name(std::move(message), short_name, full_name));
  }
  return {};
}

}  // namespace

LuaState::LuaState() : state_(luaL_newstate()) {
  if (!state_) throw std::bad_alloc();
  const luaL_Reg libs[] = {{LUA_GNAME, luaopen_base},
                           {LUA_TABLIBNAME, luaopen_table},
                           {LUA_STRLIBNAME, luaopen_string},
                           {LUA_MATHLIBNAME, luaopen_math},
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

LuaState::~LuaState() {
  lua_close(state_);
}

Result<void> LuaState::run_file(const std::string& path, const std::string& display_name) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return make_error("scenario", path + ": cannot read the file");
  std::stringstream buffer;
  buffer << in.rdbuf();
  std::string text = buffer.str();
  std::string chunk = "@" + display_name;
  // Text only ("t"): a precompiled chunk could bypass every check.
  full_name_ = display_name;
  short_name_ = display_name;
  if (luaL_loadbufferx(state_, text.data(), text.size(), chunk.c_str(), "t") != LUA_OK) {
    std::string message = lua_tostring(state_, -1);
    lua_pop(state_, 1);
    // A syntax error names the chunk as Lua shortens it; find that form from a tiny chunk.
    if (luaL_loadbufferx(state_, "", 0, chunk.c_str(), "t") == LUA_OK) {
      lua_Debug ar;
      lua_getinfo(state_, ">S", &ar);  // pops the function
      short_name_ = ar.short_src;
    }
    return make_error("scenario", with_full_name(std::move(message), short_name_, full_name_));
  }
  lua_Debug ar;
  lua_pushvalue(state_, -1);
  lua_getinfo(state_, ">S", &ar);
  short_name_ = ar.short_src;
  return protected_call(state_, 0, short_name_, full_name_);
}

Result<void> LuaState::call_ref(int ref) {
  lua_rawgeti(state_, LUA_REGISTRYINDEX, ref);
  return protected_call(state_, 0, short_name_, full_name_);
}

}  // namespace gatedrill
