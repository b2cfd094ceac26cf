/*
 * json.native: json.decode in C for aonode's Lua process module (lua/ao/json.lua loads it when present; a native
 * Lua interpreter, as in lua/test/library_test.lua, falls back to the Lua decoder json.decodeLua).
 *
 * Why: decoding the message and env JSON was about 80% of a counter message's time in the pure-Lua library (42 + 40
 * of 101 us under native Lua 5.4, the same share interpreted in WASM), and every replica evaluates every message.
 *
 * Contract: the same as json.decodeLua, byte for byte, errors included (LuaProcessModuleTests compares the two on a
 * corpus inside the module): strict JSON, null -> nil (an object member that is null is absent), numbers as Lua's
 * tonumber reads them (integers when the text is digits only and fits in 64 bits, floats otherwise), \u escapes with
 * surrogate pairs to UTF-8 (a lone surrogate gives U+FFFD), nesting deeper than 200 refused, and the Lua decoder's
 * quirks kept (it accepts leading zeros and "1.e5" before an exponent; it refuses DEL, byte 127, in strings).
 * Positions in errors are 1-based byte offsets, as string.find gives them.
 */
#include <stddef.h>
#include <string.h>

#include "lua.h"
#include "lauxlib.h"

#define JSON_DEPTH_MAX 200

typedef struct {
  lua_State *L;
  const unsigned char *s;
  size_t n;
} decoder;

/* Raises "json.decode: <what><detail><tail> at byte <pos>" (pos 0-based here, 1-based in the text). */
static int fail3(decoder *d, size_t pos, const char *what, const char *detail, size_t detail_len, const char *tail) {
  lua_State *L = d->L;
  luaL_Buffer b;
  luaL_buffinit(L, &b);
  luaL_addstring(&b, "json.decode: ");
  luaL_addstring(&b, what);
  if (detail != NULL) luaL_addlstring(&b, detail, detail_len);
  if (tail != NULL) luaL_addstring(&b, tail);
  luaL_addstring(&b, " at byte ");
  lua_pushfstring(L, "%I", (lua_Integer)(pos + 1));
  luaL_addvalue(&b);
  luaL_pushresult(&b);
  return lua_error(L);
}
static int fail(decoder *d, size_t pos, const char *what) { return fail3(d, pos, what, NULL, 0, NULL); }

static size_t skip_space(const decoder *d, size_t i) {
  while (i < d->n) {
    unsigned char c = d->s[i];
    if (c != ' ' && c != '\t' && c != '\r' && c != '\n') break;
    i++;
  }
  return i;
}

static int is_hex(unsigned char c) {
  return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}
static unsigned hex4(const unsigned char *p) {
  unsigned v = 0;
  for (int k = 0; k < 4; k++) {
    unsigned char c = p[k];
    v = v * 16 + (c <= '9' ? c - '0' : (c | 0x20) - 'a' + 10);
  }
  return v;
}
/* Lua's %c: iscntrl in the C locale. */
static int is_control(unsigned char c) { return c < 0x20 || c == 0x7f; }

static void add_utf8(luaL_Buffer *b, unsigned cp) {
  char out[4];
  size_t len;
  if (cp < 0x80) { out[0] = (char)cp; len = 1; }
  else if (cp < 0x800) { out[0] = (char)(0xC0 | (cp >> 6)); out[1] = (char)(0x80 | (cp & 0x3F)); len = 2; }
  else if (cp < 0x10000) {
    out[0] = (char)(0xE0 | (cp >> 12)); out[1] = (char)(0x80 | ((cp >> 6) & 0x3F)); out[2] = (char)(0x80 | (cp & 0x3F));
    len = 3;
  } else {
    out[0] = (char)(0xF0 | (cp >> 18)); out[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
    out[2] = (char)(0x80 | ((cp >> 6) & 0x3F)); out[3] = (char)(0x80 | (cp & 0x3F));
    len = 4;
  }
  luaL_addlstring(b, out, len);
}

/* pos at the opening quote; pushes the string, returns the index after the closing quote. */
static size_t decode_string(decoder *d, size_t pos) {
  const unsigned char *s = d->s;
  size_t i = pos + 1, j = i;
  /* Fast path: no escape before the closing quote. */
  while (j < d->n && s[j] != '"' && s[j] != '\\' && !is_control(s[j])) j++;
  if (j < d->n && s[j] == '"') {
    lua_pushlstring(d->L, (const char *)s + i, j - i);
    return j + 1;
  }
  luaL_Buffer b;
  luaL_buffinit(d->L, &b);
  for (;;) {
    j = i;
    while (j < d->n && s[j] != '"' && s[j] != '\\' && !is_control(s[j])) j++;
    if (j >= d->n) fail(d, pos, "unterminated string");
    if (j > i) luaL_addlstring(&b, (const char *)s + i, j - i);
    unsigned char c = s[j];
    if (c == '"') {
      luaL_pushresult(&b);
      return j + 1;
    } else if (c == '\\') {
      unsigned char e = j + 1 < d->n ? s[j + 1] : 0;
      const char *simple = NULL;
      switch (e) {
        case '"': simple = "\""; break;
        case '\\': simple = "\\"; break;
        case '/': simple = "/"; break;
        case 'b': simple = "\b"; break;
        case 'f': simple = "\f"; break;
        case 'n': simple = "\n"; break;
        case 'r': simple = "\r"; break;
        case 't': simple = "\t"; break;
        default: break;
      }
      if (j + 1 < d->n && simple != NULL) {
        luaL_addchar(&b, simple[0]);
        i = j + 2;
      } else if (j + 1 < d->n && e == 'u') {
        if (!(j + 5 < d->n && is_hex(s[j + 2]) && is_hex(s[j + 3]) && is_hex(s[j + 4]) && is_hex(s[j + 5])))
          fail(d, j, "bad \\u escape");
        unsigned cp = hex4(s + j + 2);
        i = j + 6;
        if (cp >= 0xD800 && cp <= 0xDBFF) {
          if (i + 5 < d->n && s[i] == '\\' && s[i + 1] == 'u' && is_hex(s[i + 2]) && is_hex(s[i + 3]) &&
              is_hex(s[i + 4]) && is_hex(s[i + 5]) && hex4(s + i + 2) >= 0xDC00 && hex4(s + i + 2) <= 0xDFFF) {
            cp = 0x10000 + (cp - 0xD800) * 0x400 + (hex4(s + i + 2) - 0xDC00);
            i += 6;
          } else {
            cp = 0xFFFD; /* a lone high surrogate has no code point */
          }
        } else if (cp >= 0xDC00 && cp <= 0xDFFF) {
          cp = 0xFFFD;
        }
        add_utf8(&b, cp);
      } else {
        fail(d, j, "bad escape");
      }
    } else {
      fail(d, j, "control character in string");
    }
  }
}

static int is_digit(unsigned char c) { return c >= '0' && c <= '9'; }

/* pos at '-' or a digit; pushes the number. The scan is the Lua decoder's pattern "^-?%d+%.?%d*[eE]?[-+]?%d*"
   (greedy), then its five acceptance patterns. */
static size_t decode_number(decoder *d, size_t pos) {
  const unsigned char *s = d->s;
  size_t k = pos;
  int minus = 0, dot = 0, exp = 0, sign = 0;
  if (k < d->n && s[k] == '-') { minus = 1; k++; }
  size_t int_start = k;
  while (k < d->n && is_digit(s[k])) k++;
  size_t int_len = k - int_start;
  if (int_len == 0) fail(d, pos, "bad number");
  if (k < d->n && s[k] == '.') { dot = 1; k++; }
  size_t frac_start = k;
  while (k < d->n && is_digit(s[k])) k++;
  size_t frac_len = k - frac_start;
  if (k < d->n && (s[k] == 'e' || s[k] == 'E')) { exp = 1; k++; }
  if (k < d->n && (s[k] == '-' || s[k] == '+')) { sign = 1; k++; }
  size_t exp_start = k;
  while (k < d->n && is_digit(s[k])) k++;
  size_t exp_len = k - exp_start;
  (void)minus;
  int leading_zero = s[int_start] == '0';
  int ok;
  if (exp) ok = exp_len > 0;                                      /* ^-?%d+%.?%d*[eE][-+]?%d+$ */
  else if (sign) ok = 0;
  else if (!dot) ok = leading_zero ? int_len == 1 : 1;            /* ^-?0$, ^-?[1-9]%d*$ */
  else ok = frac_len > 0 && (leading_zero ? int_len == 1 : 1);    /* ^-?0%.%d+$, ^-?[1-9]%d*%.%d+$ */
  if (!ok) fail3(d, pos, "bad number '", (const char *)s + pos, k - pos, "'");
  lua_State *L = d->L;
  lua_pushlstring(L, (const char *)s + pos, k - pos);
  size_t converted = lua_stringtonumber(L, lua_tostring(L, -1));
  if (converted == 0) fail3(d, pos, "bad number '", (const char *)s + pos, k - pos, "'");
  lua_remove(L, -2);
  int digits_only = !dot && !exp && !sign;
  if (!(digits_only && lua_isinteger(L, -1))) {
    /* The Lua decoder's `n + 0.0`: an integer becomes a float, and -0.0 becomes 0.0. */
    lua_Number f = lua_tonumber(L, -1) + 0.0;
    lua_pop(L, 1);
    lua_pushnumber(L, f);
  }
  return k;
}

/* Pushes the value at i (after spaces); returns the index after it. */
static size_t decode_value(decoder *d, size_t i, int depth) {
  lua_State *L = d->L;
  const unsigned char *s = d->s;
  i = skip_space(d, i);
  if (i >= d->n) return (size_t)fail(d, i, "unexpected end of input");
  unsigned char c = s[i];
  if (c == '{') {
    if (depth > JSON_DEPTH_MAX) fail(d, i, "nesting deeper than 200");
    luaL_checkstack(L, 4, "json.decode");
    lua_newtable(L);
    i = skip_space(d, i + 1);
    if (i < d->n && s[i] == '}') return i + 1;
    for (;;) {
      if (!(i < d->n && s[i] == '"')) fail(d, i, "expected a string key");
      i = decode_string(d, i);
      i = skip_space(d, i);
      if (!(i < d->n && s[i] == ':')) fail(d, i, "expected ':'");
      i = decode_value(d, i + 1, depth + 1);
      lua_rawset(L, -3);
      i = skip_space(d, i);
      if (i < d->n && s[i] == '}') return i + 1;
      if (!(i < d->n && s[i] == ',')) fail(d, i, "expected ',' or '}'");
      i = skip_space(d, i + 1);
    }
  } else if (c == '[') {
    if (depth > JSON_DEPTH_MAX) fail(d, i, "nesting deeper than 200");
    luaL_checkstack(L, 4, "json.decode");
    lua_newtable(L);
    lua_Integer n = 0;
    i = skip_space(d, i + 1);
    if (i < d->n && s[i] == ']') return i + 1;
    for (;;) {
      i = decode_value(d, i, depth + 1);
      n++;
      lua_rawseti(L, -2, n);
      i = skip_space(d, i);
      if (i < d->n && s[i] == ']') return i + 1;
      if (!(i < d->n && s[i] == ',')) fail(d, i, "expected ',' or ']'");
      i = i + 1;
    }
  } else if (c == '"') {
    return decode_string(d, i);
  } else if (c == '-' || is_digit(c)) {
    return decode_number(d, i);
  } else if (c == 't' && d->n - i >= 4 && memcmp(s + i, "true", 4) == 0) {
    lua_pushboolean(L, 1);
    return i + 4;
  } else if (c == 'f' && d->n - i >= 5 && memcmp(s + i, "false", 5) == 0) {
    lua_pushboolean(L, 0);
    return i + 5;
  } else if (c == 'n' && d->n - i >= 4 && memcmp(s + i, "null", 4) == 0) {
    lua_pushnil(L);
    return i + 4;
  }
  char shown = (char)c;
  return (size_t)fail3(d, i, "unexpected character '", &shown, 1, "'");
}

static int json_native_decode(lua_State *L) {
  if (lua_type(L, 1) != LUA_TSTRING) {
    int t = lua_type(L, 1);
    return luaL_error(L, "json.decode: expected a string, got %s", t == LUA_TNONE ? "nil" : lua_typename(L, t));
  }
  size_t n = 0;
  const char *text = lua_tolstring(L, 1, &n);
  decoder d = { L, (const unsigned char *)text, n };
  lua_settop(L, 1);
  size_t end = decode_value(&d, 0, 0);
  end = skip_space(&d, end);
  if (end < n) fail(&d, end, "trailing characters");
  return 1;
}

int luaopen_json_native(lua_State *L) {
  lua_newtable(L);
  lua_pushcfunction(L, json_native_decode);
  lua_setfield(L, -2, "decode");
  return 1;
}
