/*
 * Suspended accounts and paused domains (see blocks.h): two small hash
 * tables behind one lock. There are few of either; every recipient looks
 * both up, so the lookups are hashed.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "blocks.h"
#include "htab.h"
#include "util.h"

struct snode {
	struct fg_hnode node;
	struct fg_suspension s;
};

struct pnode {
	struct fg_hnode node;
	struct fg_pause p;
};

#define PASS_TTL	3600

struct pass {
	char sender[FG_ADDR_MAX + 1];
	uint32_t until;
};

struct fg_blocks {
	pthread_mutex_t lock;
	struct fg_htab susp, paus;
	/* Their counts, read without the lock: with nothing suspended
	 * or paused (the usual case) a recipient takes no lock here. */
	atomic_size_t nsusp, npaus;
	size_t npattern;	/* pause records of a "*.domain" (locked) */
	int changed;
	struct pass pass[FG_PASSES];
	int journaling;
	struct fg_block_op *ops;
	size_t nops, opcap, ops_lost;
};

/* With the lock held. A journal that cannot grow loses the change for
 * the other relays only (counted). */
static void
journal(struct fg_blocks *b, char kind, const struct fg_suspension *s,
    const struct fg_pause *p)
{
	struct fg_block_op *op;

	if (!b->journaling)
		return;
	if (b->nops == b->opcap) {
		size_t cap = b->opcap ? b->opcap * 2 : 16;
		void *n = cap > 100000 ? NULL : realloc(b->ops, cap * sizeof(*op));

		if (n == NULL) {
			b->ops_lost++;
			return;
		}
		b->ops = n;
		b->opcap = cap;
	}
	op = &b->ops[b->nops++];
	memset(op, 0, sizeof(*op));
	op->kind = kind;
	if (s != NULL)
		op->s = *s;
	if (p != NULL)
		op->p = *p;
}

static int
count_pattern(struct fg_hnode *n, void *arg)
{
	if (((struct pnode *)n)->p.domain[0] == '*')
		(*(size_t *)arg)++;
	return 0;
}

/* After a change, with the lock held. */
static void
publish(struct fg_blocks *b)
{
	atomic_store(&b->nsusp, b->susp.count);
	atomic_store(&b->npaus, b->paus.count);
	b->npattern = 0;
	fg_htab_walk(&b->paus, count_pattern, &b->npattern);
}

static int
susp_eq(const struct fg_hnode *n, const void *key)
{
	return strcmp(((const struct snode *)n)->s.account, key) == 0;
}

static int
paus_eq(const struct fg_hnode *n, const void *key)
{
	return strcmp(((const struct pnode *)n)->p.domain, key) == 0;
}

/* The same record, not only the same name: an ended record this relay
 * drops from the store's view is that one only, not one another relay
 * set since. */
static int
susp_same(const struct fg_hnode *n, const void *key)
{
	const struct fg_suspension *a = &((const struct snode *)n)->s, *b = key;

	return strcmp(a->account, b->account) == 0 &&
	    strcmp(a->rule, b->rule) == 0 && a->since == b->since &&
	    a->until == b->until;
}

static int
paus_same(const struct fg_hnode *n, const void *key)
{
	const struct fg_pause *a = &((const struct pnode *)n)->p, *b = key;

	return strcmp(a->domain, b->domain) == 0 &&
	    strcmp(a->rule, b->rule) == 0 && a->since == b->since &&
	    a->until == b->until && a->duration == b->duration &&
	    a->trips == b->trips;
}

struct fg_blocks *
fg_blocks_new(void)
{
	struct fg_blocks *b = calloc(1, sizeof(*b));

	if (b != NULL)
		pthread_mutex_init(&b->lock, NULL);
	return b;
}

/* Both tables of blocks, emptied (their nodes and buckets freed). */
static void
drop_tables(struct fg_htab *susp, struct fg_htab *paus)
{
	fg_htab_walk(susp, fg_htab_free_node, NULL);
	fg_htab_walk(paus, fg_htab_free_node, NULL);
	fg_htab_clear(susp);
	fg_htab_clear(paus);
}

void
fg_blocks_free(struct fg_blocks *b)
{
	if (b == NULL)
		return;
	drop_tables(&b->susp, &b->paus);
	pthread_mutex_destroy(&b->lock);
	free(b->ops);
	free(b);
}

int
fg_suspension_on(const struct fg_suspension *s, uint32_t now)
{
	return s->until == 0 || now < s->until;
}

int
fg_blocks_suspended(struct fg_blocks *b, const char *account, uint32_t now,
    struct fg_suspension *s)
{
	struct snode *n;

	if (atomic_load(&b->nsusp) == 0)
		return 0;
	pthread_mutex_lock(&b->lock);
	n = b->susp.count == 0 ? NULL : (struct snode *)fg_htab_find(&b->susp,
	    fg_hash(account), susp_eq, account);
	/* One whose time has come is over before the service drops it. */
	if (n != NULL && !fg_suspension_on(&n->s, now))
		n = NULL;
	if (n != NULL && s != NULL)
		*s = n->s;
	pthread_mutex_unlock(&b->lock);
	return n != NULL;
}

static int
add_suspension(struct fg_blocks *b, const struct fg_suspension *s)
{
	struct snode *n;

	if (fg_htab_find(&b->susp, fg_hash(s->account), susp_eq, s->account))
		return 0;
	if ((n = calloc(1, sizeof(*n))) == NULL)
		return -1;
	n->s = *s;
	n->node.hash = fg_hash(s->account);
	if (fg_htab_add(&b->susp, &n->node) < 0) {
		free(n);
		return -1;
	}
	b->changed = 1;
	return 1;
}

int
fg_blocks_suspend(struct fg_blocks *b, const char *account, const char *rule,
    uint32_t now, uint32_t until)
{
	struct fg_suspension s;
	struct snode *old;
	int rc;

	memset(&s, 0, sizeof(s));
	fg_strlcpy(s.account, account, sizeof(s.account));
	fg_strlcpy(s.rule, rule, sizeof(s.rule));
	s.since = now;
	s.until = until;
	pthread_mutex_lock(&b->lock);
	old = (struct snode *)fg_htab_find(&b->susp, fg_hash(account), susp_eq,
	    account);
	if (old != NULL && !fg_suspension_on(&old->s, now)) {
		/* Over, not dropped yet: this one takes its place. */
		journal(b, 'e', &old->s, NULL);
		fg_htab_unlink(&b->susp, &old->node);
		free(old);
	}
	rc = add_suspension(b, &s);
	if (rc > 0)
		journal(b, 's', &s, NULL);
	publish(b);
	pthread_mutex_unlock(&b->lock);
	return rc > 0;
}

int
fg_blocks_suspend_anew(struct fg_blocks *b, const char *account,
    uint32_t now, uint32_t until, struct fg_suspension *was)
{
	struct snode *n;
	int rc = 0;

	pthread_mutex_lock(&b->lock);
	n = (struct snode *)fg_htab_find(&b->susp, fg_hash(account), susp_eq,
	    account);
	if (n != NULL && fg_suspension_on(&n->s, now)) {
		if (was != NULL)
			*was = n->s;
		fg_strlcpy(n->s.rule, FG_BY_OPERATOR, sizeof(n->s.rule));
		n->s.until = until;
		b->changed = 1;
		journal(b, 'u', &n->s, NULL);
		rc = 1;
	}
	pthread_mutex_unlock(&b->lock);
	return rc;
}

int
fg_blocks_resume(struct fg_blocks *b, const char *account)
{
	struct fg_hnode *n;

	pthread_mutex_lock(&b->lock);
	n = fg_htab_find(&b->susp, fg_hash(account), susp_eq, account);
	if (n != NULL) {
		journal(b, 'r', &((struct snode *)n)->s, NULL);
		fg_htab_unlink(&b->susp, n);
		free(n);
		b->changed = 1;
	}
	publish(b);
	pthread_mutex_unlock(&b->lock);
	return n != NULL;
}

/* The running pause of key, NULL when none. Under the lock. */
static struct pnode *
running(struct fg_blocks *b, const char *key, uint32_t now)
{
	struct pnode *n = (struct pnode *)fg_htab_find(&b->paus, fg_hash(key),
	    paus_eq, key);

	return n != NULL && now < n->p.until ? n : NULL;
}

int
fg_blocks_paused(struct fg_blocks *b, const char *domain, uint32_t now,
    struct fg_pause *p)
{
	char pat[FG_DOMAIN_MAX + 2];
	const char *dot;
	struct pnode *n;

	if (atomic_load(&b->npaus) == 0)
		return 0;
	pthread_mutex_lock(&b->lock);
	n = b->paus.count == 0 ? NULL : running(b, domain, now);
	/* A pause of "*.example.jp" holds its subdomains, the nearest
	 * first; a pattern itself is looked up as it is. */
	if (n == NULL && b->npattern > 0 && domain[0] != '*' &&
	    domain[0] != '.')
		for (dot = strchr(domain, '.'); n == NULL && dot != NULL;
		    dot = strchr(dot + 1, '.'))
			if ((size_t)snprintf(pat, sizeof(pat), "*%s", dot) <
			    sizeof(pat))
				n = running(b, pat, now);
	if (n != NULL && p != NULL)
		*p = n->p;
	pthread_mutex_unlock(&b->lock);
	return n != NULL;
}

/* The domain's pause record, a blank one when it had none; NULL out of
 * memory. Under the lock. */
static struct pnode *
pause_record(struct fg_blocks *b, const char *domain)
{
	struct pnode *n;

	n = (struct pnode *)fg_htab_find(&b->paus, fg_hash(domain), paus_eq,
	    domain);
	if (n != NULL || (n = calloc(1, sizeof(*n))) == NULL)
		return n;
	fg_strlcpy(n->p.domain, domain, sizeof(n->p.domain));
	n->node.hash = fg_hash(domain);
	if (fg_htab_add(&b->paus, &n->node) < 0) {
		free(n);
		return NULL;
	}
	return n;
}

int
fg_blocks_pause(struct fg_blocks *b, const char *domain, const char *rule,
    uint32_t base, uint32_t max, uint32_t period, uint32_t now,
    struct fg_pause *p)
{
	struct pnode *n;
	int rc = 0;

	pthread_mutex_lock(&b->lock);
	if ((n = pause_record(b, domain)) == NULL || now < n->p.until)
		goto out;		/* out of memory, or paused already */
	if (n->p.duration != 0 && now - n->p.until < period &&
	    strcmp(n->p.rule, FG_BY_OPERATOR) != 0) {
		/* It tripped again soon after it resumed: twice as long. */
		n->p.duration = n->p.duration > max / 2 ? max :
		    n->p.duration * 2;
		n->p.trips++;
	} else
		n->p.duration = 0;
	if (n->p.duration == 0) {
		n->p.duration = base < max ? base : max;
		n->p.trips = 1;
	}
	fg_strlcpy(n->p.rule, rule, sizeof(n->p.rule));
	n->p.since = now;
	n->p.until = now + n->p.duration;
	b->changed = 1;
	journal(b, 'p', NULL, &n->p);
	if (p != NULL)
		*p = n->p;
	rc = 1;
out:
	publish(b);
	pthread_mutex_unlock(&b->lock);
	return rc;
}

int
fg_blocks_pause_for(struct fg_blocks *b, const char *domain, uint32_t secs,
    uint32_t now, struct fg_pause *p)
{
	struct pnode *n;
	int rc = -1;

	pthread_mutex_lock(&b->lock);
	if ((n = pause_record(b, domain)) == NULL)
		goto out;
	rc = now < n->p.until ? 0 : 1;
	if (rc == 1) {
		n->p.since = now;
		n->p.trips = 1;
	}
	fg_strlcpy(n->p.rule, FG_BY_OPERATOR, sizeof(n->p.rule));
	n->p.duration = secs;
	n->p.until = now + secs;
	b->changed = 1;
	journal(b, 'p', NULL, &n->p);
	if (p != NULL)
		*p = n->p;
out:
	publish(b);
	pthread_mutex_unlock(&b->lock);
	return rc;
}

int
fg_blocks_unpause(struct fg_blocks *b, const char *domain, uint32_t now)
{
	struct pnode *n;
	int was = 0;

	pthread_mutex_lock(&b->lock);
	n = (struct pnode *)fg_htab_find(&b->paus, fg_hash(domain), paus_eq,
	    domain);
	if (n != NULL && now < n->p.until) {
		/* An operator's end: the next trip starts from the base. */
		n->p.until = now;
		n->p.duration = 0;
		b->changed = 1;
		journal(b, 'p', NULL, &n->p);
		was = 1;
	}
	pthread_mutex_unlock(&b->lock);
	return was;
}

struct rows {
	struct fg_suspension *s;
	struct fg_pause *p;
	size_t ns, np;
};

static int
take_susp(struct fg_hnode *n, void *arg)
{
	struct rows *r = arg;

	r->s[r->ns++] = ((struct snode *)n)->s;
	return 0;
}

static int
take_paus(struct fg_hnode *n, void *arg)
{
	struct rows *r = arg;

	r->p[r->np++] = ((struct pnode *)n)->p;
	return 0;
}

void
fg_blocks_rows(struct fg_blocks *b, struct fg_suspension **s, size_t *ns,
    struct fg_pause **p, size_t *np)
{
	struct rows r = { NULL, NULL, 0, 0 };

	pthread_mutex_lock(&b->lock);
	r.s = calloc(b->susp.count + 1, sizeof(*r.s));
	r.p = calloc(b->paus.count + 1, sizeof(*r.p));
	if (r.s != NULL)
		fg_htab_walk(&b->susp, take_susp, &r);
	if (r.p != NULL)
		fg_htab_walk(&b->paus, take_paus, &r);
	pthread_mutex_unlock(&b->lock);
	*s = r.s;
	*ns = r.ns;
	*p = r.p;
	*np = r.np;
}

/* The domain's pause record made p, a new one when it had none; -1 out
 * of memory (the record not kept). Under the lock. */
static int
set_pause(struct fg_blocks *b, const struct fg_pause *p)
{
	struct pnode *n = (struct pnode *)fg_htab_find(&b->paus,
	    fg_hash(p->domain), paus_eq, p->domain);

	if (n != NULL) {
		n->p = *p;
		return 0;
	}
	if ((n = calloc(1, sizeof(*n))) == NULL)
		return -1;
	n->p = *p;
	n->node.hash = fg_hash(p->domain);
	if (fg_htab_add(&b->paus, &n->node) < 0) {
		free(n);
		return -1;
	}
	return 0;
}

int
fg_blocks_load(struct fg_blocks *b, const struct fg_suspension *s, size_t ns,
    const struct fg_pause *p, size_t np)
{
	size_t i;
	int rc = 0;

	pthread_mutex_lock(&b->lock);
	for (i = 0; i < ns; i++)
		if (add_suspension(b, &s[i]) < 0)
			rc = -1;
	for (i = 0; i < np; i++)
		if (set_pause(b, &p[i]) < 0)
			rc = -1;
	b->changed = 0;
	publish(b);
	pthread_mutex_unlock(&b->lock);
	return rc;
}

int
fg_blocks_changed(struct fg_blocks *b)
{
	int c;

	pthread_mutex_lock(&b->lock);
	c = b->changed;
	b->changed = 0;
	pthread_mutex_unlock(&b->lock);
	return c;
}

struct expire {
	struct fg_blocks *b;
	uint32_t now, keep;
	int dropped;
};

static int
expire_visit(struct fg_hnode *n, void *arg)
{
	struct pnode *pn = (struct pnode *)n;
	struct expire *e = arg;

	if (e->now < pn->p.until || e->now - pn->p.until <= e->keep)
		return 0;
	journal(e->b, 'x', NULL, &pn->p);
	free(n);
	e->dropped = 1;
	return 1;
}

static int
expire_susp_visit(struct fg_hnode *n, void *arg)
{
	struct snode *sn = (struct snode *)n;
	struct expire *e = arg;

	if (fg_suspension_on(&sn->s, e->now))
		return 0;
	journal(e->b, 'e', &sn->s, NULL);
	free(n);
	e->dropped = 1;
	return 1;
}

void
fg_blocks_expire(struct fg_blocks *b, uint32_t now, uint32_t keep)
{
	struct expire e = { b, now, keep, 0 };

	pthread_mutex_lock(&b->lock);
	fg_htab_walk(&b->susp, expire_susp_visit, &e);
	fg_htab_walk(&b->paus, expire_visit, &e);
	if (e.dropped)
		b->changed = 1;
	publish(b);
	pthread_mutex_unlock(&b->lock);
}

void
fg_blocks_journal(struct fg_blocks *b, int on)
{
	pthread_mutex_lock(&b->lock);
	b->journaling = on;
	pthread_mutex_unlock(&b->lock);
}

size_t
fg_blocks_take(struct fg_blocks *b, struct fg_block_op **ops)
{
	size_t n;

	pthread_mutex_lock(&b->lock);
	*ops = b->ops;
	n = b->nops;
	b->ops = NULL;
	b->nops = b->opcap = 0;
	pthread_mutex_unlock(&b->lock);
	return n;
}

/* Changes taken that could not be sent: back before the newer ones
 * (frees ops). */
void
fg_blocks_untake(struct fg_blocks *b, struct fg_block_op *ops, size_t n)
{
	pthread_mutex_lock(&b->lock);
	if (b->nops > 0) {
		void *p = realloc(ops, (n + b->nops) * sizeof(*ops));

		if (p == NULL) {
			b->ops_lost += n;
			free(ops);
			pthread_mutex_unlock(&b->lock);
			return;
		}
		ops = p;
		memcpy(ops + n, b->ops, b->nops * sizeof(*ops));
		free(b->ops);
	}
	b->ops = ops;
	b->nops += n;
	b->opcap = b->nops;
	pthread_mutex_unlock(&b->lock);
}

/* Drops the record filed under name that eq finds for key: the name
 * itself, or a whole record (susp_same, paus_same). */
static void
drop_one(struct fg_htab *t, const char *name,
    int (*eq)(const struct fg_hnode *, const void *), const void *key)
{
	struct fg_hnode *n = fg_htab_find(t, fg_hash(name), eq, key);

	if (n != NULL) {
		fg_htab_unlink(t, n);
		free(n);
	}
}

int
fg_blocks_replace(struct fg_blocks *b, const struct fg_suspension *s,
    size_t ns, const struct fg_pause *p, size_t np)
{
	struct fg_htab osusp, opaus;
	size_t i;
	int changed, rc = 0;

	pthread_mutex_lock(&b->lock);
	changed = b->changed;	/* the store's copy is not ours to save */
	/* Built aside: out of memory, the copy before stays whole. */
	osusp = b->susp;
	opaus = b->paus;
	memset(&b->susp, 0, sizeof(b->susp));
	memset(&b->paus, 0, sizeof(b->paus));
	for (i = 0; i < ns; i++)
		if (add_suspension(b, &s[i]) < 0)
			rc = -1;
	for (i = 0; i < np; i++)
		if (set_pause(b, &p[i]) < 0)
			rc = -1;
	/* Ours, not yet in the store. */
	for (i = 0; i < b->nops && rc == 0; i++) {
		const struct fg_block_op *op = &b->ops[i];

		if (op->kind == 's')
			rc = add_suspension(b, &op->s) < 0 ? -1 : 0;
		else if (op->kind == 'u') {
			drop_one(&b->susp, op->s.account, susp_eq, op->s.account);
			rc = add_suspension(b, &op->s) < 0 ? -1 : 0;
		} else if (op->kind == 'r')
			drop_one(&b->susp, op->s.account, susp_eq, op->s.account);
		else if (op->kind == 'e')
			drop_one(&b->susp, op->s.account, susp_same, &op->s);
		else if (op->kind == 'p')
			rc = set_pause(b, &op->p);
		else if (op->kind == 'x')
			drop_one(&b->paus, op->p.domain, paus_same, &op->p);
	}
	if (rc < 0) {
		drop_tables(&b->susp, &b->paus);
		b->susp = osusp;
		b->paus = opaus;
	} else
		drop_tables(&osusp, &opaus);
	b->changed = changed;
	publish(b);
	pthread_mutex_unlock(&b->lock);
	return rc;
}

struct count {
	uint32_t now;
	size_t paused, suspended;
};

static int
count_visit(struct fg_hnode *n, void *arg)
{
	struct count *c = arg;

	if (c->now < ((struct pnode *)n)->p.until)
		c->paused++;
	return 0;
}

static int
count_susp_visit(struct fg_hnode *n, void *arg)
{
	struct count *c = arg;

	if (fg_suspension_on(&((struct snode *)n)->s, c->now))
		c->suspended++;
	return 0;
}

size_t
fg_blocks_count(struct fg_blocks *b, size_t *paused_now, uint32_t now)
{
	struct count c = { now, 0, 0 };

	pthread_mutex_lock(&b->lock);
	fg_htab_walk(&b->paus, count_visit, &c);
	fg_htab_walk(&b->susp, count_susp_visit, &c);
	pthread_mutex_unlock(&b->lock);
	if (paused_now != NULL)
		*paused_now = c.paused;
	return c.suspended;
}

int
fg_blocks_pass_add(struct fg_blocks *b, const char *sender, uint32_t now)
{
	int i, rc = -1;

	if (strlen(sender) > FG_ADDR_MAX)
		return -1;
	pthread_mutex_lock(&b->lock);
	for (i = 0; i < FG_PASSES; i++) {
		if (b->pass[i].until > now)
			continue;
		fg_strlcpy(b->pass[i].sender, sender, sizeof(b->pass[i].sender));
		b->pass[i].until = now + PASS_TTL;
		rc = 0;
		break;
	}
	pthread_mutex_unlock(&b->lock);
	return rc;
}

int
fg_blocks_pass_take(struct fg_blocks *b, const char *sender, uint32_t now)
{
	int i, rc = 0;

	pthread_mutex_lock(&b->lock);
	for (i = 0; i < FG_PASSES; i++) {
		if (b->pass[i].until > now &&
		    strcasecmp(b->pass[i].sender, sender) == 0) {
			b->pass[i].until = 0;
			rc = 1;
			break;
		}
	}
	pthread_mutex_unlock(&b->lock);
	return rc;
}
