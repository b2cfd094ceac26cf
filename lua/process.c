/*
 * aonode's Lua process module: the C entry points of a `wasm32-unknown-emscripten2` AO module.
 *
 * The AO loader (and aonode's AOCompute engine) instantiates the module, runs the constructors, calls
 * main(argc, argv) once, then calls handle(msgJSON, envJSON) once per message with two NUL-terminated UTF-8 strings
 * on the shadow stack, and reads the NUL-terminated JSON string handle returns (ao-loader-abi.md sections 1 and 3).
 *
 * main creates one Lua state and boots the process library (the files in lua/ao, embedded at build time by
 * scripts/build-lua-module into the generated header ao_lua_sources.h): each file becomes a package.preload entry,
 * then `require "process"` defines the global Lua function handle. The state lives in linear memory, so it persists
 * from message to message and is saved and restored with the memory.
 *
 * Lua errors are longjmps; emscripten lowers them to the invoke_* / setThrew protocol (SUPPORT_LONGJMP), which the
 * host implements.
 */
#include <stdlib.h>
#include <string.h>
#include <stdio.h>

#include <emscripten.h>

#include "lua.h"
#include "lualib.h"
#include "lauxlib.h"

#include "ao_lua_sources.h" /* generated: struct ao_lua_source ao_lua_sources[], ao_lua_sources_count */

int luaopen_json_native(lua_State *L); /* lua/json-native.c: json.decode in C */

static lua_State *process_state = NULL;

/* The last result, owned here: handle's return value stays valid until the next call, which frees it. */
static char *last_result = NULL;

/* The fixed string returned when the Lua side cannot produce a result (the loader then fails the message). */
static const char boot_failed_result[] =
    "{\"ok\":false,\"response\":\"the Lua process library failed to boot\"}";

static int boot(void) {
  lua_State *L = luaL_newstate();
  if (L == NULL) return 1;
  luaL_openlibs(L);

  /* package.preload[name] = the compiled chunk of each embedded file, and "json.native" (the C decoder json.lua
     takes when present) */
  lua_getglobal(L, "package");
  lua_getfield(L, -1, "preload");
  lua_pushcfunction(L, luaopen_json_native);
  lua_setfield(L, -2, "json.native");
  for (size_t i = 0; i < ao_lua_sources_count; i++) {
    const struct ao_lua_source *s = &ao_lua_sources[i];
    if (luaL_loadbufferx(L, (const char *)s->text, s->length, s->chunkname, "t") != LUA_OK) {
      fprintf(stderr, "aonode-lua: cannot load %s: %s\n", s->name, lua_tostring(L, -1));
      lua_close(L);
      return 1;
    }
    lua_setfield(L, -2, s->name);
  }
  lua_pop(L, 2);

  lua_getglobal(L, "require");
  lua_pushstring(L, "process");
  if (lua_pcall(L, 1, 0, 0) != LUA_OK) {
    fprintf(stderr, "aonode-lua: boot failed: %s\n", lua_tostring(L, -1));
    lua_close(L);
    return 1;
  }
  process_state = L;
  return 0;
}

/* Called once by the loader after the constructors (em2: main(1, argv)). Idempotent. */
int main(int argc, char **argv) {
  (void)argc;
  (void)argv;
  if (process_state != NULL) return 0;
  return boot();
}

/*
 * One message: msg and env are the JSON texts the compute unit builds (ao-protocol.md 3.5). Returns the JSON result
 * {"ok":..., "response":...}; the pointer is valid until the next call.
 */
EMSCRIPTEN_KEEPALIVE
const char *handle(const char *msg, const char *env) {
  if (process_state == NULL && boot() != 0) return boot_failed_result;
  lua_State *L = process_state;

  free(last_result);
  last_result = NULL;

  lua_settop(L, 0);
  lua_getglobal(L, "handle");
  lua_pushstring(L, msg != NULL ? msg : "null");
  lua_pushstring(L, env != NULL ? env : "null");
  if (lua_pcall(L, 2, 1, 0) != LUA_OK) {
    /* The Lua handle catches everything; reaching here means memory ran out or the library is broken. Report it
       as the loader's !ok shape, built by hand so it cannot fail again. */
    const char *err = lua_tostring(L, -1);
    if (err == NULL) err = "(error object is not a string)";
    size_t cap = strlen(err) * 6 + 64;
    last_result = malloc(cap);
    if (last_result == NULL) { lua_settop(L, 0); return boot_failed_result; }
    char *p = last_result;
    p += sprintf(p, "{\"ok\":false,\"response\":\"");
    for (const unsigned char *c = (const unsigned char *)err; *c; c++) {
      if (*c == '"' || *c == '\\') { *p++ = '\\'; *p++ = (char)*c; }
      else if (*c < 0x20) p += sprintf(p, "\\u%04x", *c);
      else *p++ = (char)*c;
    }
    strcpy(p, "\"}");
    lua_settop(L, 0);
    return last_result;
  }

  size_t len = 0;
  const char *result = lua_tolstring(L, -1, &len);
  if (result == NULL) {
    lua_settop(L, 0);
    return "{\"ok\":false,\"response\":\"handle returned no string\"}";
  }
  last_result = malloc(len + 1);
  if (last_result == NULL) { lua_settop(L, 0); return "{\"ok\":false,\"response\":\"out of memory\"}"; }
  memcpy(last_result, result, len + 1);
  lua_settop(L, 0);
  return last_result;
}
