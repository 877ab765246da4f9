/*
 * unit.h -- a minimal TAP producer for the core's unit tests (run by prove).
 */
#ifndef KP_UNIT_H
#define KP_UNIT_H

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

#include "kp_core.h"

static int	unit_count;
static int	unit_failed;

static void
unit_ok(int cond, const char *fmt, ...)
{
	va_list		ap;

	unit_count++;
	if (!cond)
		unit_failed++;
	printf("%sok %d - ", cond ? "" : "not ", unit_count);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
	fflush(stdout);
}

/* |a - b| <= tol * max(1, |b|) */
static inline int
unit_close(double a, double b, double tol)
{
	double		scale = fabs(b) > 1.0 ? fabs(b) : 1.0;

	return fabs(a - b) <= tol * scale;
}

static int
unit_done(void)
{
	printf("1..%d\n", unit_count);
	return unit_failed ? 1 : 0;
}

/*
 * An allocator that counts what it hands out and can fail on purpose:
 * fail_at = N makes the N-th call return NULL (0 = never).
 */
typedef struct unit_counting
{
	size_t		total_bytes;
	int			live;
	int			calls;
	int			fail_at;
} unit_counting;

static inline void *
unit_counting_alloc(void *ctx, size_t size)
{
	unit_counting *c = ctx;

	c->calls++;
	if (c->fail_at && c->calls == c->fail_at)
		return NULL;
	c->total_bytes += size;
	c->live++;
	return malloc(size);
}

static inline void
unit_counting_release(void *ctx, void *ptr)
{
	unit_counting *c = ctx;

	c->live--;
	free(ptr);
}

static inline kp_allocator
unit_counting_allocator(unit_counting *c)
{
	kp_allocator a = {unit_counting_alloc, unit_counting_release, c};

	return a;
}

#endif							/* KP_UNIT_H */
