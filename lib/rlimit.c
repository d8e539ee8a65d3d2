/*
 * The shared limiter's Lua scripts and the EVALSHA commands that call
 * them. A window is a hash "{P}:w:RULE\037KEY" of slot start -> count
 * (plus "p", its period), the same slots as lib/window.c; a window's
 * reservations a sorted set "{P}:r:RULE\037KEY" of "NAME|COST" scored by
 * when they expire. Every script takes the clock from its caller or,
 * given 0, from Redis (TIME): one clock for every relay.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rlimit.h"
#include "wkey.h"

/*
 * Shared by every script. load: a window's live slots, folded to a new
 * period as lib/window.c's fg_window_set_period does, and expired; with
 * how much they hold, whether that changed anything, and the period
 * stored. A window keeps its period ("p") as long as a reservation on it
 * may still be committed (lib/limiter.c keeps the entry): a commit
 * counts in the window's period as it is then, not as it was at RCPT.
 */
#define LUA_COMMON \
"local function width(p) if p >= 120 then return math.floor(p / 60) end return 1 end\n" \
"local function load(w, period, now)\n" \
"  local h = redis.call('HGETALL', w)\n" \
"  local sp, slots = nil, {}\n" \
"  for j = 1, #h, 2 do\n" \
"    if h[j] == 'p' then sp = tonumber(h[j + 1])\n" \
"    else slots[#slots + 1] = {tonumber(h[j]), tonumber(h[j + 1])} end\n" \
"  end\n" \
"  table.sort(slots, function(a, b) return a[1] < b[1] end)\n" \
"  local wd, changed = width(period), false\n" \
"  if sp ~= nil and sp ~= period then\n" \
"    changed = true\n" \
"    local ow = width(sp)\n" \
"    if ow ~= wd then\n" \
"      local f = {}\n" \
"      for _, s in ipairs(slots) do\n" \
"        local last = s[1] + ow - 1\n" \
"        local st = last - last % wd\n" \
"        if #f > 0 and f[#f][1] == st then f[#f][2] = f[#f][2] + s[2]\n" \
"        else f[#f + 1] = {st, s[2]} end\n" \
"      end\n" \
"      slots = f\n" \
"    end\n" \
"  end\n" \
"  local live, inwin = {}, 0\n" \
"  for _, s in ipairs(slots) do\n" \
"    if s[1] + wd + period > now then live[#live + 1] = s; inwin = inwin + s[2]\n" \
"    else changed = true end\n" \
"  end\n" \
"  return live, inwin, changed, sp\n" \
"end\n" \
"local function keep(z)\n" \
"  local last = redis.call('ZRANGE', z, -1, -1, 'WITHSCORES')\n" \
"  if #last == 0 then return 0 end\n" \
"  return tonumber(last[2]) + 1\n" \
"end\n" \
"local function save(w, period, live, upto)\n" \
"  redis.call('DEL', w)\n" \
"  if #live > 0 then\n" \
"    upto = math.max(upto, live[#live][1] + width(period) + period + 1)\n" \
"  end\n" \
"  if upto == 0 then return end\n" \
"  local a = {'p', period}\n" \
"  for _, s in ipairs(live) do a[#a + 1] = s[1]; a[#a + 1] = s[2] end\n" \
"  redis.call('HSET', w, unpack(a))\n" \
"  redis.call('EXPIREAT', w, upto)\n" \
"end\n" \
"local function charge(w, z, period, now, n)\n" \
"  local live = load(w, period, now)\n" \
"  local st = now - now % width(period)\n" \
"  if #live > 0 and live[#live][1] >= st then live[#live][2] = live[#live][2] + n\n" \
"  else live[#live + 1] = {st, n} end\n" \
"  save(w, period, live, keep(z))\n" \
"end\n" \
"local function clock(a)\n" \
"  local now = tonumber(a)\n" \
"  if now == 0 then now = tonumber(redis.call('TIME')[1]) end\n" \
"  return now\n" \
"end\n"

/*
 * KEYS: n windows, then their n reservation sets. ARGV: now, ttl, name,
 * peek, then limit, period, cost, hard per check. Returns {refused,
 * now, over, used, retry per check}; all or none is reserved.
 */
static const char lua_reserve[] = LUA_COMMON
"local n = #KEYS / 2\n"
"local now, ttl, name, peek = clock(ARGV[1]), tonumber(ARGV[2]), ARGV[3], ARGV[4] == '1'\n"
"local out, refused, st = {0, now}, false, {}\n"
"for i = 1, n do\n"
"  local b = 4 + (i - 1) * 4\n"
"  local limit, period = tonumber(ARGV[b + 1]), tonumber(ARGV[b + 2])\n"
"  local c, hard = tonumber(ARGV[b + 3]), ARGV[b + 4] == '1'\n"
"  local w, z, wd = KEYS[i], KEYS[n + i], width(period)\n"
"  local live, inwin, changed, sp = load(w, period, now)\n"
"  redis.call('ZREMRANGEBYSCORE', z, '-inf', now)\n"
"  local used = inwin\n"
"  for _, m in ipairs(redis.call('ZRANGE', z, 0, -1)) do\n"
"    used = used + tonumber(string.match(m, '|(%d+)$'))\n"
"  end\n"
"  local over, retry = c > 0 and used + c > limit, 0\n"
"  if over then\n"
"    local excess, freed = used + c - limit, 0\n"
"    if excess <= inwin then\n"
"      for _, s in ipairs(live) do\n"
"        freed = freed + s[2]\n"
"        if freed >= excess then retry = s[1] + wd + period - now; break end\n"
"      end\n"
"    end\n"
"    if retry == 0 then retry = now - now % wd + wd + period - now end\n"
"    if hard then refused = true end\n"
"  end\n"
"  st[i] = {c, live, changed or sp ~= period}\n"
"  out[#out + 1] = over and 1 or 0\n"
"  out[#out + 1] = used\n"
"  out[#out + 1] = retry\n"
"end\n"
"if refused then out[1] = 1 end\n"
"for i = 1, n do\n"
"  local period = tonumber(ARGV[4 + (i - 1) * 4 + 2])\n"
"  local w, z, c = KEYS[i], KEYS[n + i], st[i][1]\n"
"  local add = not refused and not peek and c > 0\n"
"  if add then\n"
"    redis.call('ZADD', z, now + ttl, name .. '|' .. c)\n"
"    redis.call('EXPIREAT', z, keep(z))\n"
"  end\n"
"  if st[i][3] or add then save(w, period, st[i][2], keep(z)) end\n"
"end\n"
"return out\n";

/* KEYS: n windows, their n reservation sets. ARGV: now, then name,
 * cost, period per reservation. Spent even when it had expired, in the
 * window's period as it is now (a reserve after a reload may have
 * changed it). */
static const char lua_commit[] = LUA_COMMON
"local n = #KEYS / 2\n"
"local now = clock(ARGV[1])\n"
"for i = 1, n do\n"
"  local b = 1 + (i - 1) * 3\n"
"  local name, c, period = ARGV[b + 1], tonumber(ARGV[b + 2]), tonumber(ARGV[b + 3])\n"
"  local w, z = KEYS[i], KEYS[n + i]\n"
"  redis.call('ZREM', z, name .. '|' .. c)\n"
"  charge(w, z, tonumber(redis.call('HGET', w, 'p')) or period, now, c)\n"
"end\n"
"return now\n";

/* KEYS: n reservation sets. ARGV: name, cost per reservation. */
static const char lua_release[] =
"for i = 1, #KEYS do\n"
"  redis.call('ZREM', KEYS[i], ARGV[2 * i - 1] .. '|' .. ARGV[2 * i])\n"
"end\n"
"return #KEYS\n";

/* KEYS: a window. Its slots go, its period stays (reservations in
 * flight are still committed in it). */
static const char lua_reset[] =
"local f = {}\n"
"for _, k in ipairs(redis.call('HKEYS', KEYS[1])) do\n"
"  if k ~= 'p' then f[#f + 1] = k end\n"
"end\n"
"if #f > 0 then redis.call('HDEL', KEYS[1], unpack(f)) end\n"
"return #f\n";

/* KEYS: a window, its reservation set. ARGV: now, period, n. */
static const char lua_add[] = LUA_COMMON
"local now = clock(ARGV[1])\n"
"charge(KEYS[1], KEYS[2], tonumber(ARGV[2]), now, tonumber(ARGV[3]))\n"
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
	int rc = evalsha(c, sha, 2 * n);

	for (i = 0; rc == 0 && i < n; i++)
		rc = arg_check_key(c, prefix, 'w', chk[i].rule, chk[i].key);
	for (i = 0; rc == 0 && i < n; i++)
		rc = arg_check_key(c, prefix, 'r', chk[i].rule, chk[i].key);
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
	int rc = evalsha(c, sha, 2 * n);

	for (i = 0; rc == 0 && i < n; i++)
		rc = arg_key(c, prefix, 'w', it[i].wkey);
	for (i = 0; rc == 0 && i < n; i++)
		rc = arg_key(c, prefix, 'r', it[i].wkey);
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
		rc = arg_key(c, prefix, 'r', it[i].wkey);
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
	int rc = evalsha(c, sha, 2);

	if (rc == 0)
		rc = arg_check_key(c, prefix, 'w', rule, key);
	if (rc == 0)
		rc = arg_check_key(c, prefix, 'r', rule, key);
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
