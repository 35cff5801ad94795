/* lua_bounded.c — library functions of the sandbox that pay for their work. See lua_bounded.h.
 *
 * The pattern matcher follows the design and the semantics of the one in Lua 5.4's lstrlib.c
 * (Copyright (C) 1994-2022 Lua.org, PUC-Rio; MIT licence: "Permission is hereby granted, free
 * of charge, to any person obtaining a copy of this software and associated documentation
 * files (the "Software"), to deal in the Software without restriction, including without
 * limitation the rights to use, copy, modify, merge, publish, distribute, sublicense, and/or
 * sell copies of the Software, and to permit persons to whom the Software is furnished to do
 * so, subject to the following conditions: The above copyright notice and this permission
 * notice shall be included in all copies or substantial portions of the Software."), with a
 * step counter added: Lua's own matcher backtracks in C, out of reach of the instruction
 * hook, and ("a?"):rep(40)..("a"):rep(40) alone runs for hours. */
#include <limits.h>
#include "lua_bounded.h"

#include <ctype.h>
#include <lauxlib.h>
#include <string.h>

#include "lua_host.h"

/* ---------------------------------------------------------------- pattern matching */

enum {
    MAX_CAPTURES = 32,
    MAX_MATCH_DEPTH = 200, /* recursion of match(): guards the C stack */
    STEP_CHUNK = 4096,     /* steps paid to the budget at a time */
    BYTES_PER_STEP = 64,   /* bytes a library function handles for one instruction's price */
    CAP_UNFINISHED = -1,
    CAP_POSITION = -2
};
#define L_ESC '%'
#define SPECIALS "^$*+?.([%-"

struct match_state {
    const char *src_init, *src_end, *p_end;
    lua_State *L;
    int depth;
    long unpaid; /* steps taken since the last payment */
    int level;   /* captures, finished or not */
    struct {
        const char *init;
        ptrdiff_t len;
    } capture[MAX_CAPTURES];
};

static const char *match(struct match_state *ms, const char *s, const char *p);

/* One unit of matching work (a character looked at, a backtrack); paid in chunks, and the
 * rest when the call returns (settle). */
static void step(struct match_state *ms, long n)
{
    ms->unpaid += n;
    if (ms->unpaid >= STEP_CHUNK) {
        long due = ms->unpaid;
        ms->unpaid = 0;
        lua_host_spend(ms->L, due);
    }
}

/* Pays the steps left over; returns nresults, for `return settle(ms, n)`. */
static int settle(struct match_state *ms, int nresults)
{
    if (ms->unpaid > 0) {
        long due = ms->unpaid;
        ms->unpaid = 0;
        lua_host_spend(ms->L, due);
    }
    return nresults;
}

static int check_capture(struct match_state *ms, int l)
{
    l -= '1';
    if (l < 0 || l >= ms->level || ms->capture[l].len == CAP_UNFINISHED)
        return luaL_error(ms->L, "invalid capture index %%%d", l + 1);
    return l;
}

static int capture_to_close(struct match_state *ms)
{
    for (int level = ms->level - 1; level >= 0; level--)
        if (ms->capture[level].len == CAP_UNFINISHED)
            return level;
    return luaL_error(ms->L, "invalid pattern capture");
}

/* The end of the single-character class that starts at p. */
static const char *class_end(struct match_state *ms, const char *p)
{
    switch (*p++) {
    case L_ESC:
        if (p == ms->p_end)
            luaL_error(ms->L, "malformed pattern (ends with '%%')");
        return p + 1;
    case '[':
        if (*p == '^')
            p++;
        do {
            if (p == ms->p_end)
                luaL_error(ms->L, "malformed pattern (missing ']')");
            if (*(p++) == L_ESC && p < ms->p_end)
                p++;
        } while (*p != ']');
        return p + 1;
    default:
        return p;
    }
}

static int match_class(int c, int cl)
{
    int res;
    switch (tolower(cl)) {
    case 'a': res = isalpha(c); break;
    case 'c': res = iscntrl(c); break;
    case 'd': res = isdigit(c); break;
    case 'g': res = isgraph(c); break;
    case 'l': res = islower(c); break;
    case 'p': res = ispunct(c); break;
    case 's': res = isspace(c); break;
    case 'u': res = isupper(c); break;
    case 'w': res = isalnum(c); break;
    case 'x': res = isxdigit(c); break;
    default: return cl == c;
    }
    if (isupper(cl))
        res = !res;
    return res;
}

/* [set] from p (at '[') to ec (at ']'). */
static int match_bracket_class(int c, const char *p, const char *ec)
{
    int sig = 1;
    if (*(p + 1) == '^') {
        sig = 0;
        p++;
    }
    while (++p < ec) {
        if (*p == L_ESC) {
            p++;
            if (match_class(c, (unsigned char)*p))
                return sig;
        } else if (*(p + 1) == '-' && p + 2 < ec) {
            p += 2;
            if ((unsigned char)*(p - 2) <= c && c <= (unsigned char)*p)
                return sig;
        } else if ((unsigned char)*p == c) {
            return sig;
        }
    }
    return !sig;
}

static int single_match(struct match_state *ms, const char *s, const char *p, const char *ep)
{
    if (s >= ms->src_end)
        return 0;
    int c = (unsigned char)*s;
    switch (*p) {
    case '.': return 1;
    case L_ESC: return match_class(c, (unsigned char)*(p + 1));
    case '[': return match_bracket_class(c, p, ep - 1);
    default: return (unsigned char)*p == c;
    }
}

static const char *match_balance(struct match_state *ms, const char *s, const char *p)
{
    if (p >= ms->p_end - 1)
        luaL_error(ms->L, "malformed pattern (missing arguments to '%%b')");
    if (s >= ms->src_end || *s != *p)
        return NULL;
    int b = *p, e = *(p + 1), cont = 1;
    const char *start = s;
    while (++s < ms->src_end) {
        if (*s == e) {
            if (--cont == 0) {
                step(ms, s - start);
                return s + 1;
            }
        } else if (*s == b) {
            cont++;
        }
    }
    step(ms, s - start);
    return NULL;
}

static const char *max_expand(struct match_state *ms, const char *s, const char *p,
                              const char *ep)
{
    ptrdiff_t i = 0;
    while (single_match(ms, s + i, p, ep))
        i++;
    step(ms, i);
    for (; i >= 0; i--) {
        const char *res = match(ms, s + i, ep + 1);
        if (res)
            return res;
    }
    return NULL;
}

static const char *min_expand(struct match_state *ms, const char *s, const char *p,
                              const char *ep)
{
    for (;;) {
        const char *res = match(ms, s, ep + 1);
        if (res)
            return res;
        if (!single_match(ms, s, p, ep))
            return NULL;
        s++;
    }
}

static const char *start_capture(struct match_state *ms, const char *s, const char *p, int what)
{
    if (ms->level >= MAX_CAPTURES)
        luaL_error(ms->L, "too many captures");
    ms->capture[ms->level].init = s;
    ms->capture[ms->level].len = what;
    ms->level++;
    const char *res = match(ms, s, p);
    if (!res)
        ms->level--;
    return res;
}

static const char *end_capture(struct match_state *ms, const char *s, const char *p)
{
    int l = capture_to_close(ms);
    ms->capture[l].len = s - ms->capture[l].init;
    const char *res = match(ms, s, p);
    if (!res)
        ms->capture[l].len = CAP_UNFINISHED;
    return res;
}

static const char *match_capture(struct match_state *ms, const char *s, int l)
{
    l = check_capture(ms, l);
    size_t len = (size_t)ms->capture[l].len;
    step(ms, (long)len);
    if ((size_t)(ms->src_end - s) >= len && memcmp(ms->capture[l].init, s, len) == 0)
        return s + len;
    return NULL;
}

/* The end of the match of pattern p at s, or NULL. Every call is a step: a backtracking
 * pattern pays for each attempt. */
static const char *match(struct match_state *ms, const char *s, const char *p)
{
    if (ms->depth-- == 0)
        luaL_error(ms->L, "pattern too complex");
again:
    step(ms, 1);
    if (p == ms->p_end)
        goto out;
    switch (*p) {
    case '(':
        if (*(p + 1) == ')')
            s = start_capture(ms, s, p + 2, CAP_POSITION);
        else
            s = start_capture(ms, s, p + 1, CAP_UNFINISHED);
        goto out;
    case ')':
        s = end_capture(ms, s, p + 1);
        goto out;
    case '$':
        if (p + 1 != ms->p_end)
            break;
        s = s == ms->src_end ? s : NULL;
        goto out;
    case L_ESC:
        switch (*(p + 1)) {
        case 'b':
            s = match_balance(ms, s, p + 2);
            if (s) {
                p += 4;
                goto again;
            }
            goto out;
        case 'f': {
            p += 2;
            if (*p != '[')
                luaL_error(ms->L, "missing '[' after '%%f' in pattern");
            const char *ep = class_end(ms, p);
            int previous = s == ms->src_init ? '\0' : (unsigned char)*(s - 1);
            int current = s < ms->src_end ? (unsigned char)*s : '\0';
            if (!match_bracket_class(previous, p, ep - 1) &&
                match_bracket_class(current, p, ep - 1)) {
                p = ep;
                goto again;
            }
            s = NULL;
            goto out;
        }
        case '0': case '1': case '2': case '3': case '4':
        case '5': case '6': case '7': case '8': case '9':
            s = match_capture(ms, s, (unsigned char)*(p + 1));
            if (s) {
                p += 2;
                goto again;
            }
            goto out;
        default:
            break;
        }
        break;
    default:
        break;
    }
    /* a single-character class, maybe with a repetition */
    const char *ep = class_end(ms, p);
    if (!single_match(ms, s, p, ep)) {
        if (*ep == '*' || *ep == '?' || *ep == '-') {
            p = ep + 1;
            goto again;
        }
        s = NULL;
        goto out;
    }
    switch (*ep) {
    case '?': {
        const char *res = match(ms, s + 1, ep + 1);
        if (res) {
            s = res;
            goto out;
        }
        p = ep + 1;
        goto again;
    }
    case '+': s = max_expand(ms, s + 1, p, ep); goto out;
    case '*': s = max_expand(ms, s, p, ep); goto out;
    case '-': s = min_expand(ms, s, p, ep); goto out;
    default:
        s++;
        p = ep;
        goto again;
    }
out:
    ms->depth++;
    return s;
}

static void prepare_state(struct match_state *ms, lua_State *L, const char *s, size_t ls,
                          const char *p, size_t lp)
{
    ms->L = L;
    ms->depth = MAX_MATCH_DEPTH;
    ms->unpaid = 0;
    ms->src_init = s;
    ms->src_end = s + ls;
    ms->p_end = p + lp;
}

static void restart_state(struct match_state *ms)
{
    ms->level = 0;
    ms->depth = MAX_MATCH_DEPTH;
}

/* Capture i of a match s..e (the whole match when the pattern has no captures). */
static void push_one_capture(struct match_state *ms, int i, const char *s, const char *e)
{
    if (i >= ms->level) {
        if (i != 0)
            luaL_error(ms->L, "invalid capture index %%%d", i + 1);
        lua_pushlstring(ms->L, s, (size_t)(e - s));
        return;
    }
    ptrdiff_t l = ms->capture[i].len;
    if (l == CAP_UNFINISHED)
        luaL_error(ms->L, "unfinished capture");
    else if (l == CAP_POSITION)
        lua_pushinteger(ms->L, (ms->capture[i].init - ms->src_init) + 1);
    else
        lua_pushlstring(ms->L, ms->capture[i].init, (size_t)l);
}

static int push_captures(struct match_state *ms, const char *s, const char *e)
{
    int n = ms->level == 0 && s ? 1 : ms->level;
    luaL_checkstack(ms->L, n, "too many captures");
    for (int i = 0; i < n; i++)
        push_one_capture(ms, i, s, e);
    return n;
}

static int no_specials(const char *p, size_t l)
{
    for (size_t i = 0; i < l; i++)
        if (p[i] && strchr(SPECIALS, p[i]))
            return 0;
    return 1;
}

/* A start position as string.find takes it: 1-based, negative from the end, clipped at 1. */
static size_t start_index(lua_Integer pos, size_t len)
{
    if (pos > 0)
        return (size_t)pos;
    if (pos == 0 || pos < -(lua_Integer)len)
        return 1;
    return len + (size_t)pos + 1;
}

static int find_aux(lua_State *L, int find)
{
    size_t ls, lp;
    const char *s = luaL_checklstring(L, 1, &ls);
    const char *p = luaL_checklstring(L, 2, &lp);
    size_t init = start_index(luaL_optinteger(L, 3, 1), ls) - 1;
    if (init > ls) {
        luaL_pushfail(L);
        return 1;
    }
    if (find && (lua_toboolean(L, 4) || no_specials(p, lp))) {
        /* glibc's memmem is linear (two-way), unlike a naive search: paid for the bytes
         * it went through, so a loop over a text's lines pays for the text once */
        const char *at = lp == 0 ? s + init : memmem(s + init, ls - init, p, lp);
        lua_host_spend(L, (long)(((at ? (size_t)(at - s) + lp : ls) - init) / 16 + 1));
        if (!at) {
            luaL_pushfail(L);
            return 1;
        }
        lua_pushinteger(L, (at - s) + 1);
        lua_pushinteger(L, (lua_Integer)((at - s) + lp));
        return 2;
    }
    struct match_state ms;
    const char *s1 = s + init;
    int anchor = *p == '^';
    if (anchor) {
        p++;
        lp--;
    }
    prepare_state(&ms, L, s, ls, p, lp);
    do {
        restart_state(&ms);
        const char *e = match(&ms, s1, p);
        if (e) {
            if (!find)
                return settle(&ms, push_captures(&ms, s1, e));
            lua_pushinteger(L, (s1 - s) + 1);
            lua_pushinteger(L, e - s);
            return settle(&ms, push_captures(&ms, NULL, NULL) + 2);
        }
    } while (s1++ < ms.src_end && !anchor);
    luaL_pushfail(L);
    return settle(&ms, 1);
}

static int str_find(lua_State *L) { return find_aux(L, 1); }
static int str_match(lua_State *L) { return find_aux(L, 0); }

struct gmatch_state {
    const char *src, *p, *last;
    struct match_state ms;
};

/* upvalues: subject, pattern, state */
static int gmatch_next(lua_State *L)
{
    struct gmatch_state *gm = lua_touserdata(L, lua_upvalueindex(3));
    gm->ms.L = L;
    for (const char *src = gm->src; src <= gm->ms.src_end; src++) {
        restart_state(&gm->ms);
        const char *e = match(&gm->ms, src, gm->p);
        if (e && e != gm->last) {
            gm->src = gm->last = e;
            return settle(&gm->ms, push_captures(&gm->ms, src, e));
        }
    }
    return settle(&gm->ms, 0);
}

static int str_gmatch(lua_State *L)
{
    size_t ls, lp;
    const char *s = luaL_checklstring(L, 1, &ls);
    const char *p = luaL_checklstring(L, 2, &lp);
    size_t init = start_index(luaL_optinteger(L, 3, 1), ls) - 1;
    lua_settop(L, 2);
    struct gmatch_state *gm = lua_newuserdatauv(L, sizeof *gm, 0);
    if (init > ls)
        init = ls + 1; /* start after the end: no match */
    prepare_state(&gm->ms, L, s, ls, p, lp);
    gm->src = s + init;
    gm->p = p;
    gm->last = NULL;
    lua_pushcclosure(L, gmatch_next, 3);
    return 1;
}

static void add_s(struct match_state *ms, luaL_Buffer *b, const char *s, const char *e)
{
    size_t l;
    lua_State *L = ms->L;
    const char *news = lua_tolstring(L, 3, &l);
    const char *p;
    step(ms, (long)l);
    while ((p = memchr(news, L_ESC, l)) != NULL) {
        luaL_addlstring(b, news, (size_t)(p - news));
        p++;
        if (*p == L_ESC) {
            luaL_addchar(b, *p);
        } else if (*p == '0') {
            luaL_addlstring(b, s, (size_t)(e - s));
        } else if (isdigit((unsigned char)*p)) {
            push_one_capture(ms, *p - '1', s, e);
            luaL_tolstring(L, -1, NULL);
            lua_remove(L, -2);
            luaL_addvalue(b);
        } else {
            luaL_error(L, "invalid use of '%c' in replacement string", L_ESC);
        }
        l -= (size_t)(p + 1 - news);
        news = p + 1;
    }
    luaL_addlstring(b, news, l);
}

static void add_value(struct match_state *ms, luaL_Buffer *b, const char *s, const char *e,
                      int tr)
{
    lua_State *L = ms->L;
    switch (tr) {
    case LUA_TFUNCTION: {
        lua_pushvalue(L, 3);
        int n = push_captures(ms, s, e);
        lua_call(L, n, 1);
        break;
    }
    case LUA_TTABLE:
        push_one_capture(ms, 0, s, e);
        lua_gettable(L, 3);
        break;
    default:
        add_s(ms, b, s, e);
        return;
    }
    if (!lua_toboolean(L, -1)) {
        lua_pop(L, 1);
        luaL_addlstring(b, s, (size_t)(e - s)); /* keep the original text */
    } else if (!lua_isstring(L, -1)) {
        luaL_error(L, "invalid replacement value (a %s)", luaL_typename(L, -1));
    } else {
        luaL_addvalue(b);
    }
}

static int str_gsub(lua_State *L)
{
    size_t srcl, lp;
    const char *src = luaL_checklstring(L, 1, &srcl);
    const char *p = luaL_checklstring(L, 2, &lp);
    const char *last = NULL;
    int tr = lua_type(L, 3);
    lua_Integer max_s = luaL_optinteger(L, 4, (lua_Integer)srcl + 1);
    int anchor = *p == '^';
    lua_Integer n = 0;
    luaL_argexpected(L, tr == LUA_TNUMBER || tr == LUA_TSTRING || tr == LUA_TFUNCTION ||
                            tr == LUA_TTABLE, 3, "string/function/table");
    luaL_Buffer b;
    luaL_buffinit(L, &b);
    if (anchor) {
        p++;
        lp--;
    }
    struct match_state ms;
    prepare_state(&ms, L, src, srcl, p, lp);
    while (n < max_s) {
        restart_state(&ms);
        const char *e = match(&ms, src, p);
        if (e && e != last) {
            n++;
            add_value(&ms, &b, src, e, tr);
            src = last = e;
        } else if (src < ms.src_end) {
            luaL_addchar(&b, *src++);
        } else {
            break;
        }
        if (anchor)
            break;
    }
    luaL_addlstring(&b, src, (size_t)(ms.src_end - src));
    luaL_pushresult(&b);
    lua_pushinteger(L, n);
    return settle(&ms, 2);
}

/* ---------------------------------------------------------------- string.rep */

/* upvalue 1: the memory cap. The result is built by doubling: a few copies, however many
 * repetitions (Lua's own loops once per repetition, even for an empty string). */
static int str_rep(lua_State *L)
{
    size_t l, lsep;
    const char *s = luaL_checklstring(L, 1, &l);
    lua_Integer n = luaL_checkinteger(L, 2);
    const char *sep = luaL_optlstring(L, 3, "", &lsep);
    size_t cap = (size_t)lua_tointeger(L, lua_upvalueindex(1));
    if (n <= 0 || l + lsep == 0) {
        lua_pushliteral(L, "");
        return 1;
    }
    size_t unit = l + lsep;
    /* a result over the cap asks for cap + 1 bytes: refused like any allocation past it */
    size_t total = (lua_Unsigned)n > cap / unit + 1 ? cap + 1 : unit * (size_t)n - lsep;
    luaL_Buffer b;
    char *out = luaL_buffinitsize(L, &b, total);
    memcpy(out, s, l);
    if (n > 1) {
        memcpy(out + l, sep, lsep);
        size_t done = unit;          /* one s..sep unit written */
        size_t body = total - l;     /* (n-1) units, then the last s */
        while (done < body) {
            size_t chunk = done < body - done ? done : body - done;
            memcpy(out + done, out, chunk);
            done += chunk;
        }
        memcpy(out + body, s, l);
    }
    luaL_pushresultsize(&b, total);
    lua_host_spend(L, (long)(total / BYTES_PER_STEP));
    return 1;
}

/* ---------------------------------------------------------------- metering */

/* Library functions whose work is linear in the bytes they read or make (upper, format,
 * tonumber, utf8.len...) pay one instruction per BYTES_PER_STEP bytes, so a loop calling one on a
 * 20 MB string stops on time: the hook alone would let 1000 instructions of such calls run
 * (minutes) before it looks at the clock. */
static long string_bytes(lua_State *L, int from, int to)
{
    size_t n = 0;
    for (int i = from; i <= to; i++)
        if (lua_type(L, i) == LUA_TSTRING)
            n += lua_rawlen(L, i);
    return (long)(n / BYTES_PER_STEP);
}

/* upvalue 1: the library function (a C function without upvalues, called in place, so its
 * argument errors name it as before); upvalue 2: true if it reads its string arguments
 * through (its results are always paid for). */
static int metered(lua_State *L)
{
    lua_CFunction f = lua_tocfunction(L, lua_upvalueindex(1));
    lua_host_spend(L, 1 + (lua_toboolean(L, lua_upvalueindex(2))
                               ? string_bytes(L, 1, lua_gettop(L)) : 0));
    int n = f(L);
    int top = lua_gettop(L);
    lua_host_spend(L, string_bytes(L, top - n + 1, top));
    return n;
}

void lua_bounded_meter(lua_State *L, int idx, const char *const names[], int reads_input)
{
    idx = lua_absindex(L, idx);
    for (int i = 0; names[i]; i++) {
        lua_getfield(L, idx, names[i]);
        if (!lua_tocfunction(L, -1) || lua_getupvalue(L, -1, 1)) {
            lua_pop(L, 2); /* never the case for the standard library: leave it alone */
            continue;
        }
        lua_pushcfunction(L, lua_tocfunction(L, -1));
        lua_replace(L, -2);
        lua_pushboolean(L, reads_input);
        lua_pushcclosure(L, metered, 2);
        lua_setfield(L, idx, names[i]);
    }
}

/* ---------------------------------------------------------------- table */

/* Calls the library function (upvalue 1) with the arguments as they are now. */
static int call_original(lua_State *L)
{
    lua_pushvalue(L, lua_upvalueindex(1));
    lua_insert(L, 1);
    lua_call(L, lua_gettop(L) - 1, LUA_MULTRET);
    return lua_gettop(L);
}

/* The number of elements from i to j (0 if empty), capped so it fits a long. */
static long range_size(lua_Integer i, lua_Integer j)
{
    if (j < i)
        return 0;
    lua_Unsigned n = (lua_Unsigned)j - (lua_Unsigned)i + 1u;
    return n > (lua_Unsigned)LONG_MAX ? LONG_MAX : (long)n;
}

static int tab_move(lua_State *L)
{
    lua_Integer f = luaL_checkinteger(L, 2), e = luaL_checkinteger(L, 3);
    lua_host_spend(L, range_size(f, e));
    return call_original(L);
}

/* table.concat(t, sep, i, j) and table.unpack(t, i, j): the end defaults to #t, read here once
 * and passed on, so the range paid for is the range copied. first: the index of i. */
static int tab_range(lua_State *L, int first)
{
    lua_Integer i = luaL_optinteger(L, first, 1);
    lua_Integer j = lua_isnoneornil(L, first + 1) ? luaL_len(L, 1)
                                                   : luaL_checkinteger(L, first + 1);
    lua_host_spend(L, range_size(i, j));
    lua_settop(L, first - 1);
    lua_pushinteger(L, i);
    lua_pushinteger(L, j);
    return call_original(L);
}

static int tab_concat(lua_State *L)
{
    tab_range(L, 3);
    lua_host_spend(L, string_bytes(L, -1, -1));
    return 1;
}
static int tab_unpack(lua_State *L) { return tab_range(L, 2); }

/* table.insert/remove/sort read #t themselves: a __len could answer one length to us and a
 * larger one to them, so tables with one are refused; the raw length is what memory holds.
 * upvalue 2: 1 for sort (n log n comparisons), 0 for insert/remove (n moves). */
static int tab_by_length(lua_State *L)
{
    luaL_checktype(L, 1, LUA_TTABLE);
    if (luaL_getmetafield(L, 1, "__len") != LUA_TNIL)
        return luaL_error(L, "table.insert/remove/sort do not take a table with a __len "
                             "metamethod in a mapping");
    long n = (long)lua_rawlen(L, 1), cost = n;
    if (lua_toboolean(L, lua_upvalueindex(2)))
        for (long k = n; k > 1; k >>= 1)
            cost += n;
    lua_host_spend(L, cost);
    return call_original(L);
}

static void replace(lua_State *L, int table_idx, const char *name, lua_CFunction fn, int extra)
{
    lua_getfield(L, table_idx, name);
    lua_pushinteger(L, extra);
    lua_pushcclosure(L, fn, 2);
    lua_setfield(L, table_idx, name);
}

void lua_bounded_install(lua_State *L, int string_idx, int table_idx, size_t mem_cap)
{
    string_idx = lua_absindex(L, string_idx);
    table_idx = lua_absindex(L, table_idx);
    static const luaL_Reg strlib[] = {{"find", str_find}, {"match", str_match},
                                      {"gmatch", str_gmatch}, {"gsub", str_gsub},
                                      {NULL, NULL}};
    lua_pushvalue(L, string_idx);
    luaL_setfuncs(L, strlib, 0);
    lua_pushinteger(L, (lua_Integer)mem_cap);
    lua_pushcclosure(L, str_rep, 1);
    lua_setfield(L, -2, "rep");
    lua_pop(L, 1);
    replace(L, table_idx, "move", tab_move, 0);
    replace(L, table_idx, "concat", tab_concat, 0);
    replace(L, table_idx, "unpack", tab_unpack, 0);
    replace(L, table_idx, "insert", tab_by_length, 0);
    replace(L, table_idx, "remove", tab_by_length, 0);
    replace(L, table_idx, "sort", tab_by_length, 1);
}
