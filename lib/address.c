/*
 * Envelope addresses as MTAs hand them to milters: with or without angle
 * brackets, source routes, quoted local parts, trailing dots, "<>".
 * Normalised forms are what floodgate counts by.
 */
#include <arpa/inet.h>
#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <idn2.h>

#include "address.h"
#include "util.h"

static int is_ctl(unsigned char c);
static char lower(char c);

/*
 * Room for a copy of an address or a domain: on the stack up to
 * FG_ADDR_IN_MAX, else on the heap. An address has no length of its
 * own here: Postfix takes what its line_length_limit lets through, and
 * a recipient floodgate could not read would pass every limit that
 * names a destination. Without room (out of memory) the address is not
 * read at all: FG_ADDR_NOMEM, which the milter turns into a 4xx.
 */
struct room {
	char *p;
	size_t len;
	char stack[FG_ADDR_IN_MAX + 3];
};

/* n bytes of room. */
static char *
room_get(struct room *r, size_t n)
{
	r->len = n;
	r->p = n <= sizeof(r->stack) ? r->stack : fg_malloc(n);
	return r->p;
}

/* Room for an address, its bytes and 3 more. */
static char *
room_for(struct room *r, const char *in)
{
	return room_get(r, strlen(in) + 3);
}

static void
room_free(struct room *r)
{
	if (r->p != r->stack)
		free(r->p);
	r->p = NULL;
}

static int
is_ctl(unsigned char c)
{
	return c < 0x20 || c == 0x7f;
}

/* ASCII only: locale-dependent tolower() would fold UTF-8 bytes. */
static char
lower(char c)
{
	return (c >= 'A' && c <= 'Z') ? (char)(c + 'a' - 'A') : c;
}

/*
 * Lowercase, drop one trailing dot, check the characters of an ASCII
 * domain or an address literal [1.2.3.4] (kept as written).
 */
static int
ascii_domain(const char *in, size_t len, char *out, size_t outlen)
{
	size_t i;

	if (len > 0 && in[len - 1] == '.')
		len--;
	/* One trailing dot is the root; two are an empty label (found by
	 * the fuzzer: "x.jp.." would else count apart from "x.jp"). */
	if (len == 0 || len > FG_DOMAIN_MAX || len >= outlen ||
	    in[len - 1] == '.')
		return -1;
	if (in[0] == '[') {
		if (in[len - 1] != ']')
			return -1;
		for (i = 0; i < len; i++) {
			if (is_ctl((unsigned char)in[i]) || in[i] == ' ')
				return -1;
			out[i] = lower(in[i]);
		}
		out[len] = '\0';
		return 0;
	}
	for (i = 0; i < len; i++) {
		unsigned char c = (unsigned char)in[i];

		if (c == '.') {
			if (i == 0 || in[i - 1] == '.')
				return -1;
		} else if (!(isalnum(c) || c == '-' || c == '_' || c >= 0x80))
			return -1;
		out[i] = lower(in[i]);
	}
	out[len] = '\0';
	return 0;
}

/*
 * A name in UTF-8 (SMTPUTF8 mail) as the MTA looks it up: by its ASCII
 * form, UTS #46 non-transitional as Postfix does it (ICU there,
 * libidn2 here): fullwidth letters, ideographic full stops and ignored
 * characters such as the soft hyphen map to ASCII, so
 * "x@ｄｏｃｏｍｏ.ne.jp" reaches docomo.ne.jp and counts there, and
 * 例え.jp counts as xn--r8jz45g.jp. A name UTS #46 refuses (bytes that
 * are not UTF-8, characters it disallows) resolves nowhere and is kept
 * as bytes. Out of memory, FG_ADDR_NOMEM: the name kept as bytes would
 * count apart from the one the MTA reaches.
 */
static int
idna_domain(const char *in, size_t len, char *out, size_t outlen)
{
	struct room buf;
	char *a = NULL;
	int rc;

	/* Characters UTS #46 ignores make a name of any length. */
	if (room_get(&buf, len + 1) == NULL)
		return FG_ADDR_NOMEM;
	memcpy(buf.p, in, len);
	buf.p[len] = '\0';
	rc = idn2_to_ascii_8z(buf.p, &a, IDN2_NONTRANSITIONAL);
	if (rc == IDN2_MALLOC) {
		fg_nomem_note();
		rc = FG_ADDR_NOMEM;
	} else if (rc != IDN2_OK)
		rc = ascii_domain(in, len, out, outlen);
	else
		rc = ascii_domain(a, strlen(a), out, outlen);
	idn2_free(a);
	room_free(&buf);
	return rc;
}

/* A domain as the MTA resolves it: an ASCII name (xn-- labels too) or an
 * address literal as written, a name in UTF-8 by idna_domain(). 0, -1
 * when it is no domain, FG_ADDR_NOMEM when out of memory. */
int
fg_domain_normalize_n(const char *in, size_t len, char *out, size_t outlen)
{
	size_t i;

	for (i = 0; i < len && (unsigned char)in[i] < 0x80; i++)
		;
	if (i == len || in[0] == '[')
		return ascii_domain(in, len, out, outlen);
	return idna_domain(in, len, out, outlen);
}

int
fg_domain_normalize(const char *in, char *out, size_t outlen)
{
	return fg_domain_normalize_n(in, strlen(in), out, outlen);
}

/* One byte of a local part: kept in out (cut at FG_LOCAL_MAX) and, when
 * asked, whole in full. */
static void
put_local(struct fg_addr *out, char *full, size_t fulllen, size_t n, char c)
{
	if (n < FG_LOCAL_MAX)
		out->local[n] = c;
	if (full != NULL && n + 1 < fulllen)
		full[n] = c;
}

/*
 * An address read: its local part unquoted, cut to FG_LOCAL_MAX in out
 * and whole in full (when not NULL), its domain normalised.
 */
static int
read_addr(const char *in, struct fg_addr *out, char *full, size_t fulllen,
    char *err, size_t errlen)
{
	const char *p = in, *end;
	size_t n = 0;
	int rc;

	out->local[0] = out->domain[0] = '\0';
	if (full != NULL && fulllen > 0)
		full[0] = '\0';
	while (*p == ' ' || *p == '\t')
		p++;
	end = p + strlen(p);
	while (end > p && (end[-1] == ' ' || end[-1] == '\t'))
		end--;
	if (end > p && *p == '<') {
		if (end[-1] != '>') {
			fg_seterr(err, errlen, "unbalanced angle bracket");
			return FG_ADDR_BAD;
		}
		p++;
		end--;
	}
	if (p == end)
		return FG_ADDR_NULL;
	/* Source route "@a,@b:user@dom": the route is obsolete; drop it. */
	if (*p == '@') {
		const char *colon = memchr(p, ':', (size_t)(end - p));

		if (colon == NULL) {
			fg_seterr(err, errlen, "source route without ':'");
			return FG_ADDR_BAD;
		}
		p = colon + 1;
	}
	if (p < end && *p == '"') {
		for (p++; p < end && *p != '"'; p++) {
			if (*p == '\\' && p + 1 < end)
				p++;
			if (is_ctl((unsigned char)*p) && *p != '\t') {
				fg_seterr(err, errlen, "control character");
				return FG_ADDR_BAD;
			}
			put_local(out, full, fulllen, n++, *p);
		}
		if (p >= end) {
			fg_seterr(err, errlen, "unterminated quoted local part");
			return FG_ADDR_BAD;
		}
		p++;
		if (p < end && *p != '@') {
			fg_seterr(err, errlen, "text after quoted local part");
			return FG_ADDR_BAD;
		}
	} else {
		for (; p < end && *p != '@'; p++) {
			if (is_ctl((unsigned char)*p) || *p == ' ' ||
			    *p == '<' || *p == '>' || *p == '"') {
				fg_seterr(err, errlen,
				    "invalid character in local part");
				return FG_ADDR_BAD;
			}
			put_local(out, full, fulllen, n++, *p);
		}
	}
	out->local[n < FG_LOCAL_MAX ? n : FG_LOCAL_MAX] = '\0';
	if (full != NULL && fulllen > 0)
		full[n < fulllen ? n : fulllen - 1] = '\0';
	if (p == end) {
		if (n == 0) {
			fg_seterr(err, errlen, "empty address");
			return FG_ADDR_BAD;
		}
		return FG_ADDR_OK;	/* local recipient such as "postmaster" */
	}
	p++;	/* '@' */
	if (n == 0) {
		fg_seterr(err, errlen, "empty local part");
		return FG_ADDR_BAD;
	}
	if ((rc = fg_domain_normalize_n(p, (size_t)(end - p), out->domain,
	    sizeof(out->domain))) < 0) {
		fg_seterr(err, errlen, rc == FG_ADDR_NOMEM ? "out of memory" :
		    "invalid domain");
		out->domain[0] = '\0';
		return rc == FG_ADDR_NOMEM ? FG_ADDR_NOMEM : FG_ADDR_BAD;
	}
	return FG_ADDR_OK;
}

int
fg_addr_parse(const char *in, struct fg_addr *out, char *err, size_t errlen)
{
	return read_addr(in, out, NULL, 0, err, errlen);
}

/*
 * Whether the MTA sends an address where it is written. The old routing
 * operators in a local part ("user%dest@host", "dest!user",
 * "\"user@dest\"@host") send it on to another domain when the one
 * written is the MTA's own (Postfix's allow_percent_hack, swap_bangpath
 * and resolve_dequoted_address, on by default; Sendmail's rules alike):
 * a tenant could reach a carrier under the MTA's own name. 1 for a plain
 * address (or "<>"), 0 for a routed or unreadable one, FG_ADDR_NOMEM
 * when out of memory.
 */
int
fg_addr_plain(const char *in)
{
	struct fg_addr a;
	struct room local;
	int rc, plain;

	if (room_for(&local, in) == NULL)
		return FG_ADDR_NOMEM;
	rc = read_addr(in, &a, local.p, local.len, NULL, 0);
	if (rc == FG_ADDR_NOMEM)
		plain = FG_ADDR_NOMEM;
	else
		plain = rc == FG_ADDR_NULL ||
		    (rc == FG_ADDR_OK && strpbrk(local.p, "%!@") == NULL);
	room_free(&local);
	return plain;
}

/*
 * The address without the blanks and angle brackets an MTA leaves around
 * it, into buf: its length, or -1 when it does not fit.
 */
static int
bare(const char *in, char *buf, size_t len)
{
	size_t n;

	while (*in == ' ' || *in == '\t')
		in++;
	if (*in == '<')
		in++;
	if ((n = strlen(in)) >= len)
		return -1;
	memcpy(buf, in, n + 1);
	while (n > 0 && (buf[n - 1] == ' ' || buf[n - 1] == '\t' ||
	    buf[n - 1] == '>'))
		buf[--n] = '\0';
	return (int)n;
}

/*
 * An address with an '@' in its local part left unquoted
 * ("user@dest@host", which Postfix takes): the domain after the last
 * '@' into written, the address before it into routed. FG_ADDR_OK when
 * both read.
 */
static int
split_last_at(const char *in, struct fg_addr *written, struct fg_addr *routed)
{
	struct room buf;
	char *at;
	int rc = FG_ADDR_BAD;

	if (room_for(&buf, in) == NULL)
		return FG_ADDR_NOMEM;
	if (bare(in, buf.p, buf.len) < 0 ||
	    (at = strrchr(buf.p, '@')) == NULL ||
	    (rc = fg_domain_normalize(at + 1, written->domain,
	    sizeof(written->domain))) < 0) {
		written->domain[0] = '\0';
		if (rc != FG_ADDR_NOMEM)
			rc = FG_ADDR_BAD;
	} else {
		*at = '\0';
		rc = fg_addr_parse(buf.p, routed, NULL, 0);
		if (rc == FG_ADDR_NULL ||
		    (rc == FG_ADDR_OK && routed->domain[0] == '\0'))
			rc = FG_ADDR_BAD;
	}
	room_free(&buf);
	return rc;
}

/*
 * An address that ends in the null domain ("\"user@dest\"@",
 * "user@dest@"), without it: Postfix's resolver strips a trailing '@'
 * as it strips its own domain, then routes what is left. 1 when there
 * was one and something is left.
 */
static int
strip_null_domain(const char *in, char *out, size_t outlen)
{
	int n = bare(in, out, outlen);

	if (n <= 0 || out[n - 1] != '@')
		return 0;
	while (n > 0 && out[n - 1] == '@')
		out[--n] = '\0';
	return n > 0;
}

/*
 * Where a routed address goes when the domain written is the MTA's own:
 * one step of its route, as Postfix takes it, the rightmost '@' of the
 * local part, else the first '!' ("dest!user"), else the rightmost '%'.
 * written gets the address as written (its domain "" when unreadable),
 * routed the step. FG_ADDR_OK when there is a step to a readable domain,
 * FG_ADDR_NOMEM when out of memory.
 */
static int
route(const char *in, struct fg_addr *written, struct fg_addr *routed,
    int strip)
{
	struct room room;
	char *local, *op, *dom, *user;
	int rc = FG_ADDR_BAD;

	if ((local = room_for(&room, in)) == NULL)
		return FG_ADDR_NOMEM;
	/* The whole local part: an operator past FG_LOCAL_MAX routes too. */
	if ((rc = read_addr(in, written, local, room.len, NULL, 0)) !=
	    FG_ADDR_OK) {
		written->local[0] = written->domain[0] = '\0';
		if (rc != FG_ADDR_NOMEM)
			rc = strip && strip_null_domain(in, local, room.len) ?
			    route(local, written, routed, 0) :
			    split_last_at(in, written, routed);
		goto done;
	}
	rc = FG_ADDR_BAD;
	if ((op = strrchr(local, '@')) == NULL &&
	    (op = strchr(local, '!')) != NULL) {
		/* "dest!user": the domain comes first */
		*op = '\0';
		dom = local;
		user = op + 1;
	} else {
		if (op == NULL && (op = strrchr(local, '%')) == NULL)
			goto done;
		*op = '\0';
		dom = op + 1;
		user = local;
	}
	if (*user == '\0' || (rc = fg_domain_normalize(dom, routed->domain,
	    sizeof(routed->domain))) < 0) {
		if (rc != FG_ADDR_NOMEM)
			rc = FG_ADDR_BAD;
		goto done;
	}
	fg_strlcpy(routed->local, user, sizeof(routed->local));
	rc = FG_ADDR_OK;
done:
	room_free(&room);
	return rc;
}

int
fg_addr_route(const char *in, struct fg_addr *written, struct fg_addr *routed)
{
	return route(in, written, routed, 1);
}

/*
 * The key an address is counted by. Case and "+extension" are folded so
 * that a tenant cannot split itself into many keys with Bob+1@X.JP,
 * bob+2@x.jp, ...
 */
void
fg_addr_key(const struct fg_addr *a, char *out, size_t outlen)
{
	size_t i, o = 0;

	if (outlen == 0)
		return;
	for (i = 0; a->local[i] != '\0' && o + 1 < outlen; i++) {
		if (a->local[i] == '+' && i > 0)
			break;
		out[o++] = lower(a->local[i]);
	}
	if (a->domain[0] != '\0' && o + 1 < outlen) {
		out[o++] = '@';
		for (i = 0; a->domain[i] != '\0' && o + 1 < outlen; i++)
			out[o++] = a->domain[i];
	}
	out[o] = '\0';
}

/* "example.jp" matches itself; "*.example.jp" matches its subdomains only. */
int
fg_domain_match(const char *domain, const char *pattern)
{
	if (pattern[0] == '*' && pattern[1] == '.') {
		size_t dl = strlen(domain), sl = strlen(pattern + 1);

		return dl > sl && strcmp(domain + dl - sl, pattern + 1) == 0;
	}
	return strcmp(domain, pattern) == 0;
}

/* Whether the IPv6 address a is an IPv4-mapped one (::ffff:a.b.c.d). */
int
fg_ip_mapped(const unsigned char a[16])
{
	static const unsigned char mapped[12] = {
		0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff
	};

	return memcmp(a, mapped, sizeof(mapped)) == 0;
}

/* Past the "IPv6:" tag Postfix and Sendmail put before an IPv6 address
 * (and an operator may copy from a Received header), if s has it. */
const char *
fg_ip_untag(const char *s)
{
	return strncasecmp(s, "IPv6:", 5) == 0 ? s + 5 : s;
}

/*
 * A client's IP address as floodgate keys and matches it, whichever MTA
 * gave it: the "IPv6:" tag that Postfix's and Sendmail's {client_addr}
 * put before an IPv6 address dropped, IPv6 in its shortest lowercase
 * form (RFC 5952), an IPv4-mapped IPv6 address as the IPv4 one. 1 when
 * IN is an address; 0 when it is not, and IN is copied as it is.
 */
int
fg_client_addr(const char *in, char *out, size_t outlen)
{
	unsigned char a[16];
	char buf[INET6_ADDRSTRLEN];
	const char *p = fg_ip_untag(in);

	if (inet_pton(AF_INET, p, a) == 1)
		inet_ntop(AF_INET, a, buf, sizeof(buf));
	else if (inet_pton(AF_INET6, p, a) != 1) {
		fg_strlcpy(out, in, outlen);
		return 0;
	} else if (fg_ip_mapped(a))
		inet_ntop(AF_INET, a + 12, buf, sizeof(buf));
	else
		inet_ntop(AF_INET6, a, buf, sizeof(buf));
	fg_strlcpy(out, buf, outlen);
	return 1;
}

/* Whether s is an address of this host's loopback (127.0.0.0/8, ::1),
 * in any spelling fg_client_addr reads. */
int
fg_ip_loopback(const char *s)
{
	char n[INET6_ADDRSTRLEN];

	if (!fg_client_addr(s, n, sizeof(n)))
		return 0;
	return strncmp(n, "127.", 4) == 0 || strcmp(n, "::1") == 0;
}
