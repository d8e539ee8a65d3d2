/*
 * The shared limiter's Lua scripts and the EVALSHA commands that call
 * them. A window is two keys. "{P}:w:RULE\037KEY" is a hash of its slots
 * (slot start -> count, the same slots as lib/window.c).
 * "{P}:s:RULE\037KEY" sums it up in a few packed bytes (Lua's struct,
 * little-endian): the period the slots are kept in, when the pair
 * expires, what the slots hold, the oldest and the latest slot
 * ("<I4I4dI4I4"), then one "<I4d" per bucket of units reserved by
 * transactions in flight, which give them back by themselves at its
 * time (a bucket of a tenth of the TTL). While the oldest slot is in the
 * window the summary alone answers a check: one MGET for every window
 * of a recipient, one SET each to reserve, no number parsed from text.
 * The hash is read (HGETALL) only when a slot leaves, the period
 * changed, or a refusal needs its retry time. Every script takes the
 * clock from its caller or, given 0, from Redis (TIME): one clock for
 * every relay.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rlimit.h"
#include "wkey.h"

/*
 * Shared by every script. parse: a summary, nil when there is none
 * (want: a bucket whose offset in it is kept, w.bo, so that a reserve
 * that only adds to that bucket rewrites its 8 bytes, SETRANGE, not
 * the whole summary). fresh: whether it alone answers for period p at
 * now (every slot in the window). load: the window from its hash, the
 * slots folded to a new period as lib/window.c's fg_window_set_period
 * does and the expired ones deleted, the hash rewritten to match, and
 * its live slots kept for a retry time (a window of the first format,
 * with "p", "e" and "rX" fields in the hash, is converted here).
 * charge: n units now. put: the summary written back, or deleted when
 * nothing in it lives. A window keeps its period as long as a
 * reservation on it may still be committed (as lib/limiter.c keeps the
 * entry): a commit counts in the window's period as it is then.
 *
 * Redis runs a script's Lua slowly (a table, a closure or a tonumber()
 * costs about a thousand machine instructions, a redis.call several
 * thousand), so the reserve script, run for every recipient, defines
 * only the functions it calls and takes its numbers packed (below).
 */
#define LUA_BASE \
"local tonumber, pairs, ipairs, floor = tonumber, pairs, ipairs, math.floor\n" \
"local unpack, sunpack, spack, concat, call = unpack, struct.unpack, struct.pack, table.concat, redis.call\n" \
"local function width(p) if p >= 120 then return floor(p / 60) end return 1 end\n" \
"local function clock(a)\n" \
"  local now = tonumber(a)\n" \
"  if now == 0 then now = tonumber(call('TIME')[1]) end\n" \
"  return now\n" \
"end\n" \
"local function bucket(now, ttl)\n" \
"  local b = floor(ttl / 10)\n" \
"  if b < 1 then b = 1 end\n" \
"  local x = now + ttl\n" \
"  return x + (b - x % b) % b\n" \
"end\n" \
"local function parse(s, now, want)\n" \
"  if not s or #s < 24 or (#s - 24) % 12 ~= 0 then return nil end\n" \
"  local p, e, n, o, l = sunpack('<I4I4dI4I4', s)\n" \
"  local w = {p = p, e = e, n = n, o = o, l = l, b = {}, r = 0}\n" \
"  for j = 25, #s, 12 do\n" \
"    local x, c = sunpack('<I4d', s, j)\n" \
"    w.b[x] = c\n" \
"    if x == want then w.bo = j end\n" \
"    if x > now then w.r = w.r + c end\n" \
"  end\n" \
"  return w\n" \
"end\n" \
"local function load(k, w, period, now)\n" \
"  local h = call('HGETALL', k)\n" \
"  local sp, b, slots, old = nil, {}, {}, false\n" \
"  if w then sp = w.p; b = w.b end\n" \
"  for j = 1, #h, 2 do\n" \
"    local f, v = h[j], h[j + 1]\n" \
"    local c = string.byte(f, 1)\n" \
"    if c >= 48 and c <= 57 then slots[#slots + 1] = {tonumber(f), tonumber(v), f}\n" \
"    else\n" \
"      old = true\n" \
"      if f == 'p' and sp == nil then sp = tonumber(v)\n" \
"      elseif c == 114 then\n" \
"        local x = tonumber(string.sub(f, 2))\n" \
"        if x then b[x] = (b[x] or 0) + tonumber(v) end\n" \
"      end\n" \
"    end\n" \
"  end\n" \
"  table.sort(slots, function(a, c) return a[1] < c[1] end)\n" \
"  local wd, fold = width(period), false\n" \
"  if sp ~= nil and sp ~= period and width(sp) ~= wd and #slots > 0 then\n" \
"    local ow, f = width(sp), {}\n" \
"    for _, s in ipairs(slots) do\n" \
"      local last = s[1] + ow - 1\n" \
"      local st = last - last % wd\n" \
"      if #f > 0 and f[#f][1] == st then f[#f][2] = f[#f][2] + s[2]\n" \
"      else f[#f + 1] = {st, s[2]} end\n" \
"    end\n" \
"    slots = f\n" \
"    fold = true\n" \
"  end\n" \
"  local live, dead, n = {}, {}, 0\n" \
"  for _, s in ipairs(slots) do\n" \
"    if s[1] + wd + period > now then live[#live + 1] = s; n = n + s[2]\n" \
"    elseif not fold then dead[#dead + 1] = s[3] end\n" \
"  end\n" \
"  if fold or old then\n" \
"    call('DEL', k)\n" \
"    local a = {}\n" \
"    for _, s in ipairs(live) do a[#a + 1] = s[1]; a[#a + 1] = s[2] end\n" \
"    if #a > 0 then call('HSET', k, unpack(a)) end\n" \
"  elseif #dead > 0 then call('HDEL', k, unpack(dead)) end\n" \
"  local o, l = 0, 0\n" \
"  if #live > 0 then\n" \
"    o, l = live[1][1], live[#live][1]\n" \
"    call('EXPIREAT', k, l + wd + period + 1)\n" \
"  end\n" \
"  local r = 0\n" \
"  for x, c in pairs(b) do if x > now then r = r + c end end\n" \
"  return {p = period, e = w and w.e or 0, n = n, o = o, l = l, b = b, r = r, live = live, dirty = true}\n" \
"end\n" \
"local function put(k, w, now)\n" \
"  local e = 0\n" \
"  if w.n > 0 then e = w.l + width(w.p) + w.p + 1 end\n" \
"  local a = {''}\n" \
"  for x, c in pairs(w.b) do\n" \
"    if x > now and c > 0 then\n" \
"      a[#a + 1] = spack('<I4d', x, c)\n" \
"      if x + 1 > e then e = x + 1 end\n" \
"    end\n" \
"  end\n" \
"  if e <= now then call('DEL', k) return end\n" \
"  local was = w.e or 0\n" \
"  if e < was then e = was end\n" \
"  a[1] = spack('<I4I4dI4I4', w.p, e, w.n, w.o, w.l)\n" \
"  if e == was then call('SET', k, concat(a), 'KEEPTTL')\n" \
"  else call('SET', k, concat(a), 'EXAT', e) end\n" \
"  w.e = e\n" \
"end\n"

#define LUA_MORE \
"local function fresh(w, p, now)\n" \
"  return w ~= nil and w.p == p and (w.n == 0 or w.o + width(p) + p > now)\n" \
"end\n" \
"local function charge(k, w, p, now, n)\n" \
"  if n <= 0 then return end\n" \
"  local wd = width(p)\n" \
"  local st = now - now % wd\n" \
"  if w.n > 0 and w.l >= st then st = w.l end\n" \
"  call('HINCRBY', k, st, n)\n" \
"  if w.n == 0 then w.o = st end\n" \
"  if w.n == 0 or st > w.l then\n" \
"    w.l = st\n" \
"    call('EXPIREAT', k, st + wd + p + 1)\n" \
"  end\n" \
"  w.n = w.n + n\n" \
"  w.p = p\n" \
"  w.dirty = true\n" \
"end\n" \
"local function mark(k, seq) if k then call('SET', k, seq, 'EX', 86400) end end\n"
#define LUA_COMMON LUA_BASE LUA_MORE

/*
 * Several recipients' reserves, one after the other as if each were its
 * own call. KEYS: the hashes of every recipient's windows, in order,
 * then their summaries in the same order. ARGV: now, ttl, peek, then
 * one per recipient: its checks packed, the number of checks (a byte),
 * then limit, period, cost (little-endian 32 bits each) and hard (a
 * byte) per check. Returns {now, then per recipient: refused, then
 * over, used, retry per check}; for each recipient all or none is
 * reserved, in the bucket bucket(now, ttl). A window several recipients
 * share is read once and written once; one whose summary already holds
 * that bucket and that needs nothing else written gets the bucket's new
 * count alone.
 */
static const char lua_reserve[] = LUA_BASE
"local nk = #KEYS / 2\n"
"local now, ttl, peek = clock(ARGV[1]), tonumber(ARGV[2]), ARGV[3] == '1'\n"
"local ss = call('MGET', unpack(KEYS, nk + 1, 2 * nk))\n"
"local bk = bucket(now, ttl)\n"
"local out, no, ws, order, ki = {now}, 1, {}, {}, 0\n"
"local sc, sw = {}, {}\n"
"for a = 4, #ARGV do\n"
"  local s = ARGV[a]\n"
"  local n, pos = sunpack('<B', s)\n"
"  local refused, at = false, no + 1\n"
"  no = no + 1\n"
"  out[no] = 0\n"
"  for i = 1, n do\n"
"    ki = ki + 1\n"
"    local limit, period, c, hard\n"
"    limit, period, c, hard, pos = sunpack('<I4I4I4B', s, pos)\n"
"    local ks, wd = KEYS[nk + ki], width(period)\n"
"    local w = ws[ks]\n"
"    if w == nil then\n"
"      w = parse(ss[ki], now, bk) or false\n"
"      order[#order + 1] = ki\n"
"    end\n"
"    -- fresh(w, period, now) written out: a call costs as much as the test\n"
"    if not (w and w.p == period and (w.n == 0 or w.o + wd + period > now)) then\n"
"      w = load(KEYS[ki], w or nil, period, now)\n"
"    end\n"
"    ws[ks] = w\n"
"    local used = w.n + w.r\n"
"    local over, retry = c > 0 and used + c > limit, 0\n"
"    if over then\n"
"      if not w.live then w = load(KEYS[ki], w, period, now); ws[ks] = w end\n"
"      local excess, freed = used + c - limit, 0\n"
"      if excess <= w.n then\n"
"        for _, x in ipairs(w.live) do\n"
"          freed = freed + x[2]\n"
"          if freed >= excess then retry = x[1] + wd + period - now; break end\n"
"        end\n"
"      end\n"
"      if retry == 0 then retry = now - now % wd + wd + period - now end\n"
"      if hard == 1 then refused = true end\n"
"    end\n"
"    sc[i], sw[i] = c, w\n"
"    out[no + 1], out[no + 2], out[no + 3] = over and 1 or 0, used, retry\n"
"    no = no + 3\n"
"  end\n"
"  if refused then out[at] = 1\n"
"  elseif not peek then\n"
"    for i = 1, n do\n"
"      local c, w = sc[i], sw[i]\n"
"      if c > 0 then\n"
"        w.b[bk] = (w.b[bk] or 0) + c; w.r = w.r + c\n"
"        if w.bo and not w.dirty then w.patch = true else w.dirty = true end\n"
"      end\n"
"    end\n"
"  end\n"
"end\n"
"for _, i in ipairs(order) do\n"
"  local k = KEYS[nk + i]\n"
"  local w = ws[k]\n"
"  if w then\n"
"    if w.dirty then put(k, w, now)\n"
"    elseif w.patch then call('SETRANGE', k, w.bo + 3, spack('<d', w.b[bk])) end\n"
"  end\n"
"end\n"
"return out\n";

/* KEYS: n hashes, then their n summaries, then the mark's key if any.
 * ARGV: now; the reservations packed, bucket, cost and period of each
 * (little-endian 32 bits, as the reserve's checks); then the mark.
 * Spent even when it had expired, in the window's period as it is now
 * (a reserve after a reload may have changed it). */
static const char lua_commit[] = LUA_COMMON
"local n = floor(#KEYS / 2)\n"
"local now, s, pos = clock(ARGV[1]), ARGV[2], 1\n"
"local ss = call('MGET', unpack(KEYS, n + 1, 2 * n))\n"
"local ws, order = {}, {}\n"
"for i = 1, n do\n"
"  local x, c, period\n"
"  x, c, period, pos = sunpack('<I4I4I4', s, pos)\n"
"  local ks = KEYS[n + i]\n"
"  local w = ws[ks]\n"
"  if w == nil then\n"
"    w = parse(ss[i], now) or false\n"
"    order[#order + 1] = i\n"
"  end\n"
"  local p = w and w.p or period\n"
"  -- fresh(w, p, now) written out, as in the reserve\n"
"  if not (w and (w.n == 0 or w.o + width(p) + p > now)) then w = load(KEYS[i], w or nil, p, now) end\n"
"  if w.b[x] then\n"
"    local left = w.b[x] - c\n"
"    if left > 0 then w.b[x] = left else w.b[x] = nil end\n"
"    w.dirty = true\n"
"  end\n"
"  charge(KEYS[i], w, p, now, c)\n"
"  ws[ks] = w\n"
"end\n"
"for _, i in ipairs(order) do\n"
"  local w = ws[KEYS[n + i]]\n"
"  if w and w.dirty then put(KEYS[n + i], w, now) end\n"
"end\n"
"if #KEYS > 2 * n then mark(KEYS[#KEYS], ARGV[3]) end\n"
"return now\n";

/* KEYS: n summaries, then the mark's key if any. ARGV: the
 * reservations packed, bucket and cost of each (as the commit's); then
 * the mark. */
static const char lua_release[] = LUA_COMMON
"local s, pos = ARGV[1], 1\n"
"local now, n = clock('0'), floor(#s / 8)\n"
"local ss = call('MGET', unpack(KEYS, 1, n))\n"
"local ws, order = {}, {}\n"
"for i = 1, n do\n"
"  local w = ws[KEYS[i]]\n"
"  if w == nil then\n"
"    w = parse(ss[i], now) or false\n"
"    ws[KEYS[i]] = w\n"
"    order[#order + 1] = KEYS[i]\n"
"  end\n"
"  local x, c\n"
"  x, c, pos = sunpack('<I4I4', s, pos)\n"
"  if w and w.b[x] then\n"
"    local left = w.b[x] - c\n"
"    if left > 0 then w.b[x] = left else w.b[x] = nil end\n"
"    w.dirty = true\n"
"  end\n"
"end\n"
"for _, k in ipairs(order) do\n"
"  if ws[k] and ws[k].dirty then put(k, ws[k], now) end\n"
"end\n"
"if #KEYS > n then mark(KEYS[n + 1], ARGV[2]) end\n"
"return n\n";

/* KEYS: a window's hash and summary. Its slots go; its period and
 * reservations in flight stay (they are still committed in it).
 * Returns how many slots it had. */
static const char lua_reset[] = LUA_COMMON
"local now = clock('0')\n"
"local w = parse(call('GET', KEYS[2]), now)\n"
"local h = call('HGETALL', KEYS[1])\n"
"local had, b, p = 0, {}, nil\n"
"for j = 1, #h, 2 do\n"
"  local f, c = h[j], string.byte(h[j], 1)\n"
"  if c >= 48 and c <= 57 then had = had + 1\n"
"  elseif f == 'p' then p = tonumber(h[j + 1])\n"
"  elseif c == 114 then\n"
"    local x = tonumber(string.sub(f, 2))\n"
"    if x then b[x] = (b[x] or 0) + tonumber(h[j + 1]) end\n"
"  end\n"
"end\n"
"call('DEL', KEYS[1])\n"
"if not w then w = {p = p or 0, e = 0, b = {}} end\n"
"for x, c in pairs(b) do w.b[x] = (w.b[x] or 0) + c end\n"
"w.n, w.o, w.l = 0, 0, 0\n"
"put(KEYS[2], w, now)\n"
"return had\n";

/* KEYS: a window's hash and summary, then the mark's key if any. ARGV:
 * now, period, n, then the mark. */
static const char lua_add[] = LUA_COMMON
"local now, period = clock(ARGV[1]), tonumber(ARGV[2])\n"
"local w = parse(call('GET', KEYS[2]), now)\n"
"if not fresh(w, period, now) then w = load(KEYS[1], w, period, now) end\n"
"charge(KEYS[1], w, period, now, tonumber(ARGV[3]))\n"
"put(KEYS[2], w, now)\n"
"mark(KEYS[3], ARGV[4])\n"
"return now\n";

/* The families of keys under "{PREFIX}:" (a "*" stands for any name),
 * which the probe checks: windows (w), their summaries (s), the marks
 * of calls in doubt (q), the relays' records (at), the pool's hourly
 * statistics (st), the epoch, the feedback stream (fb), suspensions and
 * pauses. */
static const char *const key_families[] = {
	"w:*", "s:*", "q:*", "at:*", "st:*", "epoch", "fb", "susp", "pause",
	NULL
};

/* ARGV: a key under floodgate's prefix that none of its keys is, then
 * each family of keys floodgate uses. Every command the scripts above
 * run (with that key where it takes one) is checked as the caller's ACL
 * user: the names of those it may not run. Then each family, read (GET)
 * and written (SET) as the first key was: "~" and the family ("~w:*")
 * for one the user may not. "~*" when no command could run on the
 * first key (most likely no key pattern of floodgate's at all). The
 * keys go in ARGV, not KEYS: Redis would refuse the call itself, naming
 * nothing, on a key the user may not touch. Redis before 7 has no
 * redis.acl_check_cmd: none named. */
static const char lua_probe[] =
"local k, no, ok, keyed = ARGV[1], {}, {}, 0\n"
"if not redis.acl_check_cmd then return no end\n"
"for _, a in ipairs({{'time'}, {'get', k}, {'mget', k}, {'set', k, 'v'},\n"
"    {'setrange', k, '0', 'v'}, {'del', k}, {'expireat', k, '1'},\n"
"    {'hgetall', k}, {'hset', k, 'f', 'v'}, {'hdel', k, 'f'},\n"
"    {'hincrby', k, 'f', '1'}}) do\n"
"  if redis.acl_check_cmd(unpack(a)) then\n"
"    ok[a[1]] = true\n"
"    if a[2] then keyed = keyed + 1 end\n"
"  else no[#no + 1] = a[1] end\n"
"end\n"
"if keyed == 0 then no[#no + 1] = '~*' return no end\n"
"local p = string.sub(k, 1, -6)\n"
"for i = 2, #ARGV do\n"
"  local f = ARGV[i]\n"
"  local key = p .. string.gsub(f, '%*', 'probe')\n"
"  if (ok.get and not redis.acl_check_cmd('get', key)) or\n"
"      (ok.set and not redis.acl_check_cmd('set', key, 'v')) then\n"
"    no[#no + 1] = '~' .. f\n"
"  end\n"
"end\n"
"return no\n";

/* KEYS: the hash of suspensions or pauses. ARGV: the field and the
 * value it ended with. HGETALL, not HGET: the calls floodgate's ACL
 * rule allows; the hash is read whole each second anyway. */
static const char lua_forget[] =
"local h = redis.call('HGETALL', KEYS[1])\n"
"for i = 1, #h, 2 do\n"
"  if h[i] == ARGV[1] then\n"
"    if h[i + 1] ~= ARGV[2] then return 0 end\n"
"    return redis.call('HDEL', KEYS[1], ARGV[1])\n"
"  end\n"
"end\n"
"return 0\n";

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
	case FG_RS_PROBE:
		return lua_probe;
	case FG_RS_FORGET:
		return lua_forget;
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

#define SCRIPT_ACL	"ERR The user executing the script can't "

int
fg_rlimit_refuses_writes(const char *err, char *why, size_t len)
{
	static const char *const code[] = { "OOM", "READONLY", "MISCONF",
	    "LOADING", "BUSY", "MASTERDOWN", "NOREPLICAS", "NOAUTH", "NOPERM",
	    "WRONGPASS", "MOVED", "ASK", "CLUSTERDOWN", "TRYAGAIN" };
	size_t i, n;
	const char *end;

	for (i = 0; i < sizeof(code) / sizeof(code[0]); i++) {
		n = strlen(code[i]);
		if (strncmp(err, code[i], n) == 0 &&
		    (err[n] == ' ' || err[n] == '\0'))
			break;
	}
	/* An ACL refusal inside a script is an ERR (Redis 7.0). */
	if (i == sizeof(code) / sizeof(code[0]) &&
	    strncmp(err, SCRIPT_ACL, sizeof(SCRIPT_ACL) - 1) != 0)
		return 0;
	end = strstr(err, " script: ");
	n = end != NULL ? (size_t)(end - err) : strlen(err);
	/* Redis does not name the command a script was refused; its
	 * ACL LOG does. */
	snprintf(why, len, "refuses writes: %.*s%s", (int)(n < 160 ? n : 160),
	    err, i == sizeof(code) / sizeof(code[0]) ?
	    " (ACL LOG in Redis names it)" : "");
	return 1;
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

/* A recipient's checks in the reserve script's arguments: at most a
 * byte's worth. */
#define RESERVE_CHECKS_MAX	255

static unsigned char *
put_u32(unsigned char *q, uint32_t v)
{
	q[0] = (unsigned char)v;
	q[1] = (unsigned char)(v >> 8);
	q[2] = (unsigned char)(v >> 16);
	q[3] = (unsigned char)(v >> 24);
	return q + 4;
}

int
fg_rlimit_reserve_cmd(struct fg_rcmd *c, const char *sha, const char *prefix,
    const struct fg_rreq *req, size_t k, uint32_t now, uint32_t ttl,
    int peek)
{
	size_t i, j, nk = 0;
	int rc;

	for (i = 0; i < k; i++) {
		if (req[i].n == 0 || req[i].n > RESERVE_CHECKS_MAX)
			return -1;
		nk += req[i].n;
	}
	rc = evalsha(c, sha, 2 * nk);
	for (i = 0; rc == 0 && i < k; i++)
		for (j = 0; rc == 0 && j < req[i].n; j++)
			rc = arg_check_key(c, prefix, 'w', req[i].chk[j].rule,
			    req[i].chk[j].key);
	for (i = 0; rc == 0 && i < k; i++)
		for (j = 0; rc == 0 && j < req[i].n; j++)
			rc = arg_check_key(c, prefix, 's', req[i].chk[j].rule,
			    req[i].chk[j].key);
	if (rc == 0)
		rc = (arg_u(c, now) < 0 || arg_u(c, ttl) < 0 ||
		    arg_str(c, peek ? "1" : "0") < 0) ? -1 : 0;
	for (i = 0; rc == 0 && i < k; i++) {
		const struct fg_check *chk = req[i].chk;
		unsigned char b[1 + RESERVE_CHECKS_MAX * 13], *q = b;

		*q++ = (unsigned char)req[i].n;
		for (j = 0; j < req[i].n; j++) {
			q = put_u32(q, chk[j].limit);
			q = put_u32(q, chk[j].period);
			q = put_u32(q, chk[j].cost);
			*q++ = chk[j].hard ? 1 : 0;
		}
		rc = arg(c, (const char *)b, (size_t)(q - b));
	}
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
fg_rlimit_reserve_reply(const long long *v, size_t nv, struct fg_rreq *req,
    size_t k, uint32_t *now)
{
	const long long *t;
	size_t i, j, need = 1;

	for (i = 0; i < k; i++)
		need += 1 + 3 * req[i].n;
	if (nv != need || v[0] <= 0 || v[0] > UINT32_MAX)
		return FG_RESERVE_ERROR;
	/* The whole reply is checked before any check is filled. */
	for (i = 0, t = v + 1; i < k; i++) {
		if (t[0] != 0 && t[0] != 1)
			return FG_RESERVE_ERROR;
		for (j = 0, t++; j < req[i].n; j++, t += 3)
			if ((t[0] != 0 && t[0] != 1) || t[1] < 0 || t[2] < 0 ||
			    t[2] > UINT32_MAX)
				return FG_RESERVE_ERROR;
	}
	for (i = 0, t = v + 1; i < k; i++) {
		req[i].rc = t[0] == 1 ? FG_REFUSED : FG_RESERVED;
		for (j = 0, t++; j < req[i].n; j++, t += 3) {
			req[i].chk[j].over = t[0] == 1;
			req[i].chk[j].used = (uint64_t)t[1];
			req[i].chk[j].retry = (uint32_t)t[2];
		}
	}
	*now = (uint32_t)v[0];
	return 0;
}

/* A commit's or a release's reservations in one argument: bucket and
 * cost (and the period, for a commit) as little-endian 32 bits each.
 * The bucket is the number in the member ("r" and its time). */
static int
arg_items(struct fg_rcmd *c, const struct fg_ritem *it, size_t n,
    int period)
{
	size_t i, w = period ? 12 : 8;
	unsigned char *b, *q;
	char *end;
	int rc;

	if (n == 0 || (b = malloc(n * w)) == NULL)
		return -1;
	for (i = 0, q = b; i < n; i++) {
		const char *d = it[i].member + 1;
		unsigned long x = strtoul(d, &end, 10);

		if (it[i].member[0] != 'r' || *d < '0' || *d > '9' ||
		    *end != '\0' || x > UINT32_MAX) {
			free(b);
			return -1;
		}
		q = put_u32(q, (uint32_t)x);
		q = put_u32(q, it[i].cost);
		if (period)
			q = put_u32(q, it[i].period);
	}
	rc = arg(c, (const char *)b, n * w);
	free(b);
	return rc;
}

/* The mark's key after the other keys (rc 0 so far), or nothing. */
static int
mark_key(struct fg_rcmd *c, int rc, const struct fg_rmark *m)
{
	if (rc < 0 || m == NULL || m->key == NULL)
		return rc;
	return arg_str(c, m->key);
}

/* The mark's number after the other arguments, or nothing. */
static int
mark_seq(struct fg_rcmd *c, int rc, const struct fg_rmark *m)
{
	if (rc < 0 || m == NULL || m->key == NULL)
		return rc;
	return arg_u(c, m->seq);
}

int
fg_rlimit_commit_cmd(struct fg_rcmd *c, const char *sha, const char *prefix,
    const struct fg_ritem *it, size_t n, uint32_t now,
    const struct fg_rmark *m)
{
	size_t i;
	int rc = evalsha(c, sha, 2 * n + (m != NULL && m->key != NULL));

	for (i = 0; rc == 0 && i < n; i++)
		rc = arg_key(c, prefix, 'w', it[i].wkey);
	for (i = 0; rc == 0 && i < n; i++)
		rc = arg_key(c, prefix, 's', it[i].wkey);
	rc = mark_key(c, rc, m);
	if (rc == 0)
		rc = arg_u(c, now);
	if (rc == 0)
		rc = arg_items(c, it, n, 1);
	return done(c, mark_seq(c, rc, m));
}

int
fg_rlimit_release_cmd(struct fg_rcmd *c, const char *sha, const char *prefix,
    const struct fg_ritem *it, size_t n, const struct fg_rmark *m)
{
	size_t i;
	int rc = evalsha(c, sha, n + (m != NULL && m->key != NULL));

	for (i = 0; rc == 0 && i < n; i++)
		rc = arg_key(c, prefix, 's', it[i].wkey);
	rc = mark_key(c, rc, m);
	if (rc == 0)
		rc = arg_items(c, it, n, 0);
	return done(c, mark_seq(c, rc, m));
}

int
fg_rlimit_add_cmd(struct fg_rcmd *c, const char *sha, const char *prefix,
    const char *rule, const char *key, uint32_t period, uint32_t n,
    uint32_t now, const struct fg_rmark *m)
{
	int rc = evalsha(c, sha, 2 + (m != NULL && m->key != NULL));

	if (rc == 0)
		rc = arg_check_key(c, prefix, 'w', rule, key);
	if (rc == 0)
		rc = arg_check_key(c, prefix, 's', rule, key);
	rc = mark_key(c, rc, m);
	if (rc == 0)
		rc = (arg_u(c, now) < 0 ||
		    arg_u(c, period) < 0 ||
		    arg_u(c, n) < 0) ? -1 : 0;
	return done(c, mark_seq(c, rc, m));
}

int
fg_rlimit_reset_cmd(struct fg_rcmd *c, const char *sha, const char *prefix,
    const char *rule, const char *key)
{
	int rc = evalsha(c, sha, 2);

	if (rc == 0)
		rc = arg_check_key(c, prefix, 'w', rule, key);
	if (rc == 0)
		rc = arg_check_key(c, prefix, 's', rule, key);
	return done(c, rc);
}

int
fg_rlimit_probe_cmd(struct fg_rcmd *c, const char *sha, const char *prefix)
{
	char k[FG_RKEY_MAX + 1];
	int n = snprintf(k, sizeof(k), "{%s}:probe", prefix), rc;
	size_t i;

	if (n < 0 || (size_t)n >= sizeof(k))
		return -1;
	rc = evalsha(c, sha, 0);
	if (rc == 0)
		rc = arg(c, k, (size_t)n);
	for (i = 0; rc == 0 && key_families[i] != NULL; i++)
		rc = arg(c, key_families[i], strlen(key_families[i]));
	return done(c, rc);
}

/* "{prefix}:name" into k: its length, -1 when it does not fit. */
static int
hash_key(char k[FG_RKEY_MAX + 1], const char *prefix, const char *name)
{
	int n = snprintf(k, FG_RKEY_MAX + 1, "{%s}:%s", prefix, name);

	return n < 0 || n > FG_RKEY_MAX ? -1 : n;
}

int
fg_rlimit_hash_cmd(struct fg_rcmd *c, const char *verb, const char *prefix,
    const char *name, const char *field, const char *value)
{
	char k[FG_RKEY_MAX + 1];
	int n = hash_key(k, prefix, name), rc;

	if (n < 0)
		return -1;
	begin(c);
	rc = (arg_str(c, verb) < 0 || arg(c, k, (size_t)n) < 0 ||
	    (field != NULL && arg_str(c, field) < 0) ||
	    (value != NULL && arg_str(c, value) < 0)) ? -1 : 0;
	return done(c, rc);
}

int
fg_rlimit_forget_cmd(struct fg_rcmd *c, const char *sha, const char *prefix,
    const char *name, const char *field, const char *value)
{
	char k[FG_RKEY_MAX + 1];
	int n = hash_key(k, prefix, name), rc;

	if (n < 0)
		return -1;
	rc = evalsha(c, sha, 1);
	if (rc == 0 && (arg(c, k, (size_t)n) < 0 || arg_str(c, field) < 0 ||
	    arg_str(c, value) < 0))
		rc = -1;
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
