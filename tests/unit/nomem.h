/*
 * Out of memory on demand, for the unit tests the Makefile links with
 * UNIT_WRAP (ld's --wrap): the calls of malloc(), calloc(), realloc()
 * and of libidn2's idn2_to_ascii_8z() in floodgate's code come here
 * first.
 */
#ifndef FG_TEST_NOMEM_H
#define FG_TEST_NOMEM_H

#include <idn2.h>
#include <stdint.h>
#include <stdlib.h>

/* A malloc() of this many bytes or more fails, once nomem_pass such
 * have been let through. */
static size_t nomem_from = SIZE_MAX;
static int nomem_pass;
/* Which call of idn2_to_ascii_8z() from now fails, the first 1; 0, none.
 * nomem_idn_calls counts them all. */
static int nomem_idn;
static long nomem_idn_calls;
/* Which allocation (malloc, calloc or realloc) from now fails, the first
 * 1; 0, none. nomem_allocs counts them all. */
static long nomem_nth;
static long nomem_allocs;

void *__real_malloc(size_t n);
void *__wrap_malloc(size_t n);
void *__real_calloc(size_t n, size_t size);
void *__wrap_calloc(size_t n, size_t size);
void *__real_realloc(void *p, size_t n);
void *__wrap_realloc(void *p, size_t n);
int __real_idn2_to_ascii_8z(const char *in, char **out, int flags);
int __wrap_idn2_to_ascii_8z(const char *in, char **out, int flags);

/* Atomic: a test's own threads (test_limiter's) allocate too. */
static int
nomem_now(void)
{
	__atomic_add_fetch(&nomem_allocs, 1, __ATOMIC_RELAXED);
	return __atomic_load_n(&nomem_nth, __ATOMIC_RELAXED) > 0 &&
	    __atomic_sub_fetch(&nomem_nth, 1, __ATOMIC_RELAXED) == 0;
}

void *
__wrap_malloc(size_t n)
{
	if (nomem_now() || (n >= nomem_from && nomem_pass-- <= 0))
		return NULL;
	return __real_malloc(n);
}

void *
__wrap_calloc(size_t n, size_t size)
{
	return nomem_now() ? NULL : __real_calloc(n, size);
}

void *
__wrap_realloc(void *p, size_t n)
{
	return nomem_now() ? NULL : __real_realloc(p, n);
}

int
__wrap_idn2_to_ascii_8z(const char *in, char **out, int flags)
{
	nomem_idn_calls++;
	if (nomem_idn > 0 && --nomem_idn == 0)
		return IDN2_MALLOC;
	return __real_idn2_to_ascii_8z(in, out, flags);
}

#endif
