/*
 * A chained hash table of intrusive nodes, doubled when it holds as many
 * nodes as buckets, and a string set built on it. The low bits of a
 * hash pick the bucket (the window table uses the high bits for its
 * shard).
 */
#include <stdlib.h>
#include <string.h>

#include "htab.h"
#include "util.h"

#define FIRST_BUCKETS	64

static int grow(struct fg_htab *h);

struct fg_hnode *
fg_htab_find(const struct fg_htab *h, uint64_t hash, fg_htab_eq eq,
    const void *key)
{
	struct fg_hnode *n;

	if (h->nbucket == 0)
		return NULL;
	for (n = h->bucket[hash & (h->nbucket - 1)]; n != NULL; n = n->next)
		if (n->hash == hash && eq(n, key))
			return n;
	return NULL;
}

static int
grow(struct fg_htab *h)
{
	size_t nb = h->nbucket ? h->nbucket * 2 : FIRST_BUCKETS, b;
	struct fg_hnode **nbk = calloc(nb, sizeof(*nbk));

	if (nbk == NULL)
		return -1;
	for (b = 0; b < h->nbucket; b++) {
		struct fg_hnode *n = h->bucket[b], *next;

		for (; n != NULL; n = next) {
			next = n->next;
			n->next = nbk[n->hash & (nb - 1)];
			nbk[n->hash & (nb - 1)] = n;
		}
	}
	free(h->bucket);
	h->bucket = nbk;
	h->nbucket = nb;
	return 0;
}

int
fg_htab_add(struct fg_htab *h, struct fg_hnode *n)
{
	struct fg_hnode **b;

	if (h->count >= h->nbucket && grow(h) < 0 && h->nbucket == 0)
		return -1;	/* a full table still takes nodes, slower */
	b = &h->bucket[n->hash & (h->nbucket - 1)];
	n->next = *b;
	*b = n;
	h->count++;
	return 0;
}

int
fg_htab_unlink(struct fg_htab *h, struct fg_hnode *n)
{
	struct fg_hnode **pp;

	if (h->nbucket == 0)
		return -1;
	for (pp = &h->bucket[n->hash & (h->nbucket - 1)]; *pp != NULL;
	    pp = &(*pp)->next) {
		if (*pp == n) {
			*pp = n->next;
			h->count--;
			return 0;
		}
	}
	return -1;
}

void
fg_htab_walk(struct fg_htab *h, fg_htab_visit fn, void *arg)
{
	size_t b;

	for (b = 0; b < h->nbucket; b++) {
		struct fg_hnode **pp = &h->bucket[b], *n;

		while ((n = *pp) != NULL) {
			struct fg_hnode *next = n->next;

			if (fn(n, arg)) {
				*pp = next;
				h->count--;
			} else
				pp = &n->next;
		}
	}
}

void
fg_htab_clear(struct fg_htab *h)
{
	free(h->bucket);
	memset(h, 0, sizeof(*h));
}

struct strnode {
	struct fg_hnode node;
	char s[];
};

static int
str_eq(const struct fg_hnode *n, const void *key)
{
	return strcmp(((const struct strnode *)n)->s, key) == 0;
}

int
fg_strset_add(struct fg_strset *s, const char *str)
{
	uint64_t h = fg_hash(str);
	size_t len = strlen(str) + 1;
	struct strnode *n;

	if (fg_htab_find(&s->h, h, str_eq, str) != NULL)
		return 0;
	if ((n = malloc(sizeof(*n) + len)) == NULL)
		return -1;
	n->node.hash = h;
	memcpy(n->s, str, len);
	if (fg_htab_add(&s->h, &n->node) < 0) {
		free(n);
		return -1;
	}
	return 1;
}

int
fg_strset_has(const struct fg_strset *s, const char *str)
{
	return fg_htab_find(&s->h, fg_hash(str), str_eq, str) != NULL;
}

size_t
fg_strset_count(const struct fg_strset *s)
{
	return s->h.count;
}

int
fg_htab_free_node(struct fg_hnode *n, void *arg)
{
	(void)arg;
	free(n);
	return 1;
}

void
fg_strset_free(struct fg_strset *s)
{
	fg_htab_walk(&s->h, fg_htab_free_node, NULL);
	fg_htab_clear(&s->h);
}
