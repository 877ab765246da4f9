/*
 * kp_core.h -- shared definitions of kpreco's numerical core.
 *
 * The core (src/core) is plain C99 with BLAS/LAPACK and never includes
 * postgres.h, so it can be unit-tested, fuzzed and benchmarked without a
 * server.  It allocates only through a kp_allocator and reports failures as
 * kp_status codes; the PostgreSQL glue turns those into ereport(ERROR).
 */
#ifndef KP_CORE_H
#define KP_CORE_H

#include <stddef.h>
#include <stdint.h>

typedef enum kp_status
{
	KP_OK = 0,
	KP_ENOMEM,					/* the allocator returned NULL */
	KP_EINVAL,					/* bad argument or malformed input */
	KP_ECANCELLED,				/* the interrupt callback asked to stop */
	KP_ENUMERIC					/* a solver produced NaN/inf or failed to factor */
} kp_status;

/*
 * Where the core gets memory.  alloc returns NULL on failure (never aborts);
 * release accepts NULL.  In the server both map onto a MemoryContext, so an
 * ERROR thrown from the interrupt callback frees everything.
 */
typedef struct kp_allocator
{
	void	   *(*alloc) (void *ctx, size_t size);
	void		(*release) (void *ctx, void *ptr);
	void	   *ctx;
} kp_allocator;

/*
 * Called between units of work in long loops.  Returns nonzero to cancel
 * (the core then returns KP_ECANCELLED).  The server's callback may instead
 * longjmp (CHECK_FOR_INTERRUPTS): the core holds no resources other than
 * allocator memory across calls to it.
 */
typedef int (*kp_interrupt_fn) (void *arg);

/* malloc/free allocator for tools and tests outside the server. */
extern const kp_allocator kp_malloc_allocator;

static inline void *
kp_alloc(const kp_allocator *a, size_t size)
{
	return a->alloc(a->ctx, size == 0 ? 1 : size);
}

static inline void
kp_free(const kp_allocator *a, void *ptr)
{
	if (ptr)
		a->release(a->ctx, ptr);
}

/* size_t multiplication that reports overflow; returns 0 on overflow. */
static inline int
kp_mul_size(size_t a, size_t b, size_t *out)
{
	if (a != 0 && b > SIZE_MAX / a)
		return 0;
	*out = a * b;
	return 1;
}

/* splitmix64's finalizer: every input bit affects every output bit. */
static inline uint64_t
kp_mix64(uint64_t x)
{
	x ^= x >> 30;
	x *= UINT64_C(0xbf58476d1ce4e5b9);
	x ^= x >> 27;
	x *= UINT64_C(0x94d049bb133111eb);
	x ^= x >> 31;
	return x;
}

const char *kp_status_message(kp_status status);

/* Steps of a long loop between two calls of its interrupt callback. */
#define KP_CHECK_INTERVAL 65536

/* Nonzero when interrupt is set, step is a multiple of KP_CHECK_INTERVAL and it asks to stop. */
static inline int
kp_interrupted(kp_interrupt_fn interrupt, void *interrupt_arg, int64_t step)
{
	return interrupt != NULL && step % KP_CHECK_INTERVAL == 0 && interrupt(interrupt_arg);
}

/*
 * Asks for the bytes at p to be brought into the caches: for rows read
 * in an order the hardware cannot guess (candidates scattered over a
 * matrix), a few rows ahead, so that their cache misses overlap.
 */
static inline void
kp_prefetch(const void *p, size_t bytes)
{
#if defined(__GNUC__)
	size_t		offset;

	for (offset = 0; offset < bytes; offset += 64)
		__builtin_prefetch((const char *) p + offset);
#else
	(void) p;
	(void) bytes;
#endif
}

#endif							/* KP_CORE_H */
