/*
 * The shared limiter's Lua scripts and the EVALSHA commands that call
 * them. A window is one hash "{P}:w:RULE\037KEY": its slots (slot start
 * -> count, the same slots as lib/window.c), "p" its period, "e" when the
 * key expires, and "rX" the units reserved by transactions in flight
 * that give them back by themselves at X (a bucket of a tenth of the
 * TTL). One HGETALL reads all a check needs; the writes are a HINCRBY
 * and, now and then, a cleanup. Every script takes the clock from its
 * caller or, given 0, from Redis (TIME): one clock for every relay.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rlimit.h"
#include "wkey.h"

/*
 * Shared by every script. load: a window read in one HGETALL: its live
 * slots (folded to a new period as lib/window.c's fg_window_set_period
 * does, and expired), what they hold, what is reserved, the fields to
 * delete (dead slots and reservations), whether the slots must be
 * rewritten (a fold), the period and expiry stored. A window keeps its
 * period as long as a reservation on it may still be committed (as
 * lib/limiter.c keeps the entry): a commit counts in the window's period
 * as it is then.
 */
#define LUA_COMMON \
"local function width(p) if p >= 120 then return math.floor(p / 60) end return 1 end\n" \
"local function load(w, period, now)\n" \
"  local h = redis.call('HGETALL', w)\n" \
"  local r = {sp = nil, e = 0, live = {}, inwin = 0, resv = 0, dead = {}, fold = false, rs = {}}\n" \
"  local slots = {}\n" \
"  for j = 1, #h, 2 do\n" \
"    local f, v = h[j], h[j + 1]\n" \
"    local c = string.byte(f, 1)\n" \
"    if f == 'p' then r.sp = tonumber(v)\n" \
"    elseif f == 'e' then r.e = tonumber(v)\n" \
"    elseif c == 114 then\n" \
"      if tonumber(string.sub(f, 2)) > now then r.resv = r.resv + tonumber(v); r.rs[#r.rs + 1] = {f, v}\n" \
"      else r.dead[#r.dead + 1] = f end\n" \
"    else slots[#slots + 1] = {tonumber(f), tonumber(v)} end\n" \
"  end\n" \
"  table.sort(slots, function(a, b) return a[1] < b[1] end)\n" \
"  local wd = width(period)\n" \
"  if r.sp ~= nil and r.sp ~= period and width(r.sp) ~= wd then\n" \
"    local ow, f = width(r.sp), {}\n" \
"    for _, s in ipairs(slots) do\n" \
"      local last = s[1] + ow - 1\n" \
"      local st = last - last % wd\n" \
"      if #f > 0 and f[#f][1] == st then f[#f][2] = f[#f][2] + s[2]\n" \
"      else f[#f + 1] = {st, s[2]} end\n" \
"    end\n" \
"    slots = f\n" \
"    r.fold = true\n" \
"  end\n" \
"  for _, s in ipairs(slots) do\n" \
"    if s[1] + wd + period > now then r.live[#r.live + 1] = s; r.inwin = r.inwin + s[2]\n" \
"    elseif not r.fold then r.dead[#r.dead + 1] = tostring(s[1]) end\n" \
"  end\n" \
"  return r\n" \
"end\n" \
"local function expiry(r, period, extra)\n" \
"  local x = extra\n" \
"  if #r.live > 0 then x = math.max(x, r.live[#r.live][1] + width(period) + period + 1) end\n" \
"  for _, b in ipairs(r.rs) do x = math.max(x, tonumber(string.sub(b[1], 2)) + 1) end\n" \
"  return x\n" \
"end\n" \
"local function store(w, r, period, extra)\n" \
"  local x = expiry(r, period, extra)\n" \
"  if r.fold then\n" \
"    redis.call('DEL', w)\n" \
"    if x == 0 then return end\n" \
"    local a = {'p', period, 'e', x}\n" \
"    for _, s in ipairs(r.live) do a[#a + 1] = s[1]; a[#a + 1] = s[2] end\n" \
"    for _, b in ipairs(r.rs) do a[#a + 1] = b[1]; a[#a + 1] = b[2] end\n" \
"    redis.call('HSET', w, unpack(a))\n" \
"    redis.call('EXPIREAT', w, x)\n" \
"    return\n" \
"  end\n" \
"  if #r.dead > 0 then redis.call('HDEL', w, unpack(r.dead)) end\n" \
"  if x == 0 then\n" \
"    if r.sp ~= nil or r.e ~= 0 then redis.call('DEL', w) end\n" \
"    return\n" \
"  end\n" \
"  if r.sp ~= period or x > r.e then\n" \
"    redis.call('HSET', w, 'p', period, 'e', math.max(x, r.e))\n" \
"    if x > r.e then redis.call('EXPIREAT', w, x) end\n" \
"  end\n" \
"end\n" \
"local function charge(w, period, now, n)\n" \
"  local r = load(w, period, now)\n" \
"  local st = now - now % width(period)\n" \
"  if #r.live > 0 and r.live[#r.live][1] >= st then st = r.live[#r.live][1] end\n" \
"  if r.fold then\n" \
"    if #r.live > 0 and r.live[#r.live][1] == st then r.live[#r.live][2] = r.live[#r.live][2] + n\n" \
"    else r.live[#r.live + 1] = {st, n} end\n" \
"  else\n" \
"    redis.call('HINCRBY', w, st, n)\n" \
"    if #r.live == 0 or r.live[#r.live][1] < st then r.live[#r.live + 1] = {st, n} end\n" \
"  end\n" \
"  store(w, r, period, 0)\n" \
"end\n" \
"local function clock(a)\n" \
"  local now = tonumber(a)\n" \
"  if now == 0 then now = tonumber(redis.call('TIME')[1]) end\n" \
"  return now\n" \
"end\n" \
"local function bucket(now, ttl)\n" \
"  local b = math.max(1, math.floor(ttl / 10))\n" \
"  local x = now + ttl\n" \
"  return 'r' .. (x + (b - x % b) % b)\n" \
"end\n"

/*
 * KEYS: n windows. ARGV: now, ttl, name (unused), peek, then limit,
 * period, cost, hard per check. Returns {refused, now, over, used, retry
 * per check}; all or none is reserved, in the bucket bucket(now, ttl).
 */
static const char lua_reserve[] = LUA_COMMON
"local n = #KEYS\n"
"local now, ttl, peek = clock(ARGV[1]), tonumber(ARGV[2]), ARGV[4] == '1'\n"
"local out, refused, st = {0, now}, false, {}\n"
"for i = 1, n do\n"
"  local b = 4 + (i - 1) * 4\n"
"  local limit, period = tonumber(ARGV[b + 1]), tonumber(ARGV[b + 2])\n"
"  local c, hard = tonumber(ARGV[b + 3]), ARGV[b + 4] == '1'\n"
"  local wd = width(period)\n"
"  local r = load(KEYS[i], period, now)\n"
"  local used = r.inwin + r.resv\n"
"  local over, retry = c > 0 and used + c > limit, 0\n"
"  if over then\n"
"    local excess, freed = used + c - limit, 0\n"
"    if excess <= r.inwin then\n"
"      for _, s in ipairs(r.live) do\n"
"        freed = freed + s[2]\n"
"        if freed >= excess then retry = s[1] + wd + period - now; break end\n"
"      end\n"
"    end\n"
"    if retry == 0 then retry = now - now % wd + wd + period - now end\n"
"    if hard then refused = true end\n"
"  end\n"
"  st[i] = {c, r, period}\n"
"  out[#out + 1] = over and 1 or 0\n"
"  out[#out + 1] = used\n"
"  out[#out + 1] = retry\n"
"end\n"
"if refused then out[1] = 1 end\n"
"local bk = bucket(now, ttl)\n"
"for i = 1, n do\n"
"  local c, r, period = st[i][1], st[i][2], st[i][3]\n"
"  local extra = 0\n"
"  if not refused and not peek and c > 0 then\n"
"    if r.fold then\n"
"      local found = false\n"
"      for _, x in ipairs(r.rs) do if x[1] == bk then x[2] = tonumber(x[2]) + c; found = true end end\n"
"      if not found then r.rs[#r.rs + 1] = {bk, c} end\n"
"    else\n"
"      redis.call('HINCRBY', KEYS[i], bk, c)\n"
"      r.rs[#r.rs + 1] = {bk, c}\n"
"    end\n"
"    extra = tonumber(string.sub(bk, 2)) + 1\n"
"  end\n"
"  if r.fold or #r.dead > 0 or extra > 0 or r.sp ~= period then store(KEYS[i], r, period, extra) end\n"
"end\n"
"return out\n";

/* KEYS: n windows. ARGV: now, then bucket, cost, period per
 * reservation. Spent even when it had expired, in the window's period
 * as it is now (a reserve after a reload may have changed it). */
static const char lua_commit[] = LUA_COMMON
"local now = clock(ARGV[1])\n"
"for i = 1, #KEYS do\n"
"  local b = 1 + (i - 1) * 3\n"
"  local bk, c, period = ARGV[b + 1], tonumber(ARGV[b + 2]), tonumber(ARGV[b + 3])\n"
"  local w = KEYS[i]\n"
"  if redis.call('HINCRBY', w, bk, -c) <= 0 then redis.call('HDEL', w, bk) end\n"
"  charge(w, tonumber(redis.call('HGET', w, 'p')) or period, now, c)\n"
"end\n"
"return now\n";

/* KEYS: n windows. ARGV: bucket, cost per reservation. */
static const char lua_release[] =
"for i = 1, #KEYS do\n"
"  if redis.call('HINCRBY', KEYS[i], ARGV[2 * i - 1], -tonumber(ARGV[2 * i])) <= 0 then\n"
"    redis.call('HDEL', KEYS[i], ARGV[2 * i - 1])\n"
"  end\n"
"end\n"
"return #KEYS\n";

/* KEYS: a window. Its slots go; its period, expiry and reservations in
 * flight stay (they are still committed in it). */
static const char lua_reset[] =
"local f = {}\n"
"for _, k in ipairs(redis.call('HKEYS', KEYS[1])) do\n"
"  local c = string.byte(k, 1)\n"
"  if k ~= 'p' and k ~= 'e' and c ~= 114 then f[#f + 1] = k end\n"
"end\n"
"if #f > 0 then redis.call('HDEL', KEYS[1], unpack(f)) end\n"
"return #f\n";

/* KEYS: a window. ARGV: now, period, n. */
static const char lua_add[] = LUA_COMMON
"local now = clock(ARGV[1])\n"
"charge(KEYS[1], tonumber(ARGV[2]), now, tonumber(ARGV[3]))\n"
"return now\n";

const char *
fg_rscript_source(enum fg_rscript s)
{
	switch (s) {
	case FG_RS_RESERVE:
		return lua_reserve;
	case FG_RS_COMMIT:
		return lua_commit;
	case FG_RS_RELEASE:
		return lua_release;
	case FG_RS_ADD:
		return lua_add;
	case FG_RS_RESET:
		return lua_reset;
	case FG_RS_COUNT:
		break;
	}
	return NULL;
}

int
fg_resv_add_ritems(struct fg_resv *r, const struct fg_ritem *it, size_t n)
{
	if (n == 0)
		return 0;
	if (r->rcap - r->nr < n) {
		size_t cap = r->rcap * 2 > r->nr + n ? r->rcap * 2 : r->nr + n + 8;
		void *p = realloc(r->ritem, cap * sizeof(*r->ritem));

		if (p == NULL)
			return -1;
		r->ritem = p;
		r->rcap = cap;
	}
	memcpy(r->ritem + r->nr, it, n * sizeof(*it));
	r->nr += n;
	return 0;
}

int
fg_rlimit_prefix_ok(const char *prefix)
{
	size_t i, n = strlen(prefix);

	if (n == 0 || n > FG_RPREFIX_MAX)
		return 0;
	for (i = 0; i < n; i++) {
		char ch = prefix[i];

		if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
		    (ch >= '0' && ch <= '9') || ch == '-' || ch == '_' ||
		    ch == '.'))
			return 0;
	}
	return 1;
}

void
fg_rcmd_free(struct fg_rcmd *c)
{
	free(c->argv);
	free(c->argvlen);
	free(c->buf);
	memset(c, 0, sizeof(*c));
}

/*
 * Arguments are appended to one buffer, each followed by a NUL: the
 * buffer may move while it grows, so done() sets the pointers once it
 * is complete, from the lengths.
 */
static int
arg(struct fg_rcmd *c, const char *p, size_t len)
{
	if (c->argc == c->cap) {
		int cap = c->cap ? c->cap * 2 : 16;
		void *a = realloc(c->argv, (size_t)cap * sizeof(*c->argv));

		if (a == NULL)
			return -1;
		c->argv = a;
		if ((a = realloc(c->argvlen, (size_t)cap * sizeof(*c->argvlen))) == NULL)
			return -1;
		c->argvlen = a;
		c->cap = cap;
	}
	if (c->buflen + len + 1 > c->bufcap) {
		size_t cap = c->bufcap ? c->bufcap * 2 : 512;
		char *b;

		while (cap < c->buflen + len + 1)
			cap *= 2;
		if ((b = realloc(c->buf, cap)) == NULL)
			return -1;
		c->buf = b;
		c->bufcap = cap;
	}
	memcpy(c->buf + c->buflen, p, len);
	c->buf[c->buflen + len] = '\0';
	c->argvlen[c->argc] = len;
	c->argc++;
	c->buflen += len + 1;
	return 0;
}

static int
arg_str(struct fg_rcmd *c, const char *s)
{
	return arg(c, s, strlen(s));
}

static int
arg_u(struct fg_rcmd *c, unsigned long long v)
{
	char b[24];

	return arg(c, b, (size_t)snprintf(b, sizeof(b), "%llu", v));
}

/* "{prefix}:T:" and the window's name. */
static int
arg_key(struct fg_rcmd *c, const char *prefix, char type, const char *wkey)
{
	char k[FG_RKEY_MAX + 1];
	int n;

	n = snprintf(k, sizeof(k), "{%s}:%c:%s", prefix, type, wkey);
	if (n < 0 || (size_t)n >= sizeof(k))
		return -1;
	return arg(c, k, (size_t)n);
}

static int
arg_check_key(struct fg_rcmd *c, const char *prefix, char type,
    const char *rule, const char *key)
{
	char w[FG_WKEY_MAX + 1];

	if (fg_wkey_join(rule, key, w, sizeof(w)) < 0)
		return -1;
	return arg_key(c, prefix, type, w);
}

static void
begin(struct fg_rcmd *c)
{
	c->argc = 0;
	c->buflen = 0;
}

static int
done(struct fg_rcmd *c, int rc)
{
	size_t off = 0;
	int i;

	if (rc < 0)
		return -1;
	for (i = 0; i < c->argc; i++) {
		c->argv[i] = c->buf + off;
		off += c->argvlen[i] + 1;
	}
	return 0;
}

static int
evalsha(struct fg_rcmd *c, const char *sha, size_t nkeys)
{
	begin(c);
	if (arg_str(c, "EVALSHA") < 0 || arg_str(c, sha) < 0 ||
	    arg_u(c, nkeys) < 0)
		return -1;
	return 0;
}

int
fg_rlimit_reserve_cmd(struct fg_rcmd *c, const char *sha, const char *prefix,
    const struct fg_check *chk, size_t n, uint32_t now, uint32_t ttl,
    const char *member, int peek)
{
	size_t i;
	int rc = evalsha(c, sha, n);

	for (i = 0; rc == 0 && i < n; i++)
		rc = arg_check_key(c, prefix, 'w', chk[i].rule, chk[i].key);
	if (rc == 0)
		rc = (arg_u(c, now) < 0 ||
		    arg_u(c, ttl) < 0 ||
		    arg_str(c, member) < 0 ||
		    arg_str(c, peek ? "1" : "0") < 0) ? -1 : 0;
	for (i = 0; rc == 0 && i < n; i++)
		rc = (arg_u(c, chk[i].limit) < 0 ||
		    arg_u(c, chk[i].period) < 0 ||
		    arg_u(c, chk[i].cost) < 0 ||
		    arg_str(c, chk[i].hard ? "1" : "0") < 0) ? -1 : 0;
	return done(c, rc);
}

void
fg_rlimit_bucket(uint32_t now, uint32_t ttl, char *out, size_t len)
{
	uint32_t b = ttl / 10 > 1 ? ttl / 10 : 1;
	uint64_t x = (uint64_t)now + ttl;

	snprintf(out, len, "r%llu", (unsigned long long)(x + (b - x % b) % b));
}

int
fg_rlimit_reserve_reply(const long long *v, size_t nv, struct fg_check *chk,
    size_t n, uint32_t *now)
{
	size_t i;

	if (nv != 2 + 3 * n || (v[0] != 0 && v[0] != 1) || v[1] <= 0 ||
	    v[1] > UINT32_MAX)
		return FG_RESERVE_ERROR;
	for (i = 0; i < n; i++) {
		const long long *t = v + 2 + 3 * i;

		if ((t[0] != 0 && t[0] != 1) || t[1] < 0 || t[2] < 0 ||
		    t[2] > UINT32_MAX)
			return FG_RESERVE_ERROR;
	}
	for (i = 0; i < n; i++) {
		const long long *t = v + 2 + 3 * i;

		chk[i].over = t[0] == 1;
		chk[i].used = (uint64_t)t[1];
		chk[i].retry = (uint32_t)t[2];
	}
	*now = (uint32_t)v[1];
	return v[0] == 1 ? FG_REFUSED : FG_RESERVED;
}

int
fg_rlimit_commit_cmd(struct fg_rcmd *c, const char *sha, const char *prefix,
    const struct fg_ritem *it, size_t n, uint32_t now)
{
	size_t i;
	int rc = evalsha(c, sha, n);

	for (i = 0; rc == 0 && i < n; i++)
		rc = arg_key(c, prefix, 'w', it[i].wkey);
	if (rc == 0)
		rc = arg_u(c, now);
	for (i = 0; rc == 0 && i < n; i++)
		rc = (arg_str(c, it[i].member) < 0 ||
		    arg_u(c, it[i].cost) < 0 ||
		    arg_u(c, it[i].period) < 0) ? -1 : 0;
	return done(c, rc);
}

int
fg_rlimit_release_cmd(struct fg_rcmd *c, const char *sha, const char *prefix,
    const struct fg_ritem *it, size_t n)
{
	size_t i;
	int rc = evalsha(c, sha, n);

	for (i = 0; rc == 0 && i < n; i++)
		rc = arg_key(c, prefix, 'w', it[i].wkey);
	for (i = 0; rc == 0 && i < n; i++)
		rc = (arg_str(c, it[i].member) < 0 ||
		    arg_u(c, it[i].cost) < 0) ? -1 : 0;
	return done(c, rc);
}

int
fg_rlimit_add_cmd(struct fg_rcmd *c, const char *sha, const char *prefix,
    const char *rule, const char *key, uint32_t period, uint32_t n,
    uint32_t now)
{
	int rc = evalsha(c, sha, 1);

	if (rc == 0)
		rc = arg_check_key(c, prefix, 'w', rule, key);
	if (rc == 0)
		rc = (arg_u(c, now) < 0 ||
		    arg_u(c, period) < 0 ||
		    arg_u(c, n) < 0) ? -1 : 0;
	return done(c, rc);
}

int
fg_rlimit_reset_cmd(struct fg_rcmd *c, const char *sha, const char *prefix,
    const char *rule, const char *key)
{
	int rc = evalsha(c, sha, 1);

	if (rc == 0)
		rc = arg_check_key(c, prefix, 'w', rule, key);
	return done(c, rc);
}

int
fg_rlimit_hash_cmd(struct fg_rcmd *c, const char *verb, const char *prefix,
    const char *name, const char *field, const char *value)
{
	char k[FG_RKEY_MAX + 1];
	int n = snprintf(k, sizeof(k), "{%s}:%s", prefix, name), rc;

	if (n < 0 || (size_t)n >= sizeof(k))
		return -1;
	begin(c);
	rc = (arg_str(c, verb) < 0 || arg(c, k, (size_t)n) < 0 ||
	    (field != NULL && arg_str(c, field) < 0) ||
	    (value != NULL && arg_str(c, value) < 0)) ? -1 : 0;
	return done(c, rc);
}

int
fg_rcmd_build(struct fg_rcmd *c, int argc, const char *const *argv)
{
	int i, rc = 0;

	begin(c);
	for (i = 0; rc == 0 && i < argc; i++)
		rc = arg_str(c, argv[i]);
	return done(c, rc);
}

int
fg_rlimit_load_cmd(struct fg_rcmd *c, enum fg_rscript s)
{
	const char *src = fg_rscript_source(s);

	if (src == NULL)
		return -1;
	begin(c);
	return done(c, (arg_str(c, "SCRIPT") < 0 || arg_str(c, "LOAD") < 0 ||
	    arg_str(c, src) < 0) ? -1 : 0);
}
