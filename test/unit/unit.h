/*
 * unit.h -- a minimal TAP producer for the core's unit tests (run by prove).
 */
#ifndef KP_UNIT_H
#define KP_UNIT_H

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

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

#endif							/* KP_UNIT_H */
