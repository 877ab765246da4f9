/*
 * core.c -- status messages and the malloc allocator of the numerical core.
 */
#include <stdlib.h>

#include "kp_core.h"

static void *
malloc_alloc(void *ctx, size_t size)
{
	(void) ctx;
	return malloc(size);
}

static void
malloc_release(void *ctx, void *ptr)
{
	(void) ctx;
	free(ptr);
}

const kp_allocator kp_malloc_allocator = {malloc_alloc, malloc_release, NULL};

const char *
kp_status_message(kp_status status)
{
	switch (status)
	{
		case KP_OK:
			return "success";
		case KP_ENOMEM:
			return "out of memory";
		case KP_EINVAL:
			return "invalid argument or malformed input";
		case KP_ECANCELLED:
			return "cancelled";
		case KP_ENUMERIC:
			return "numerical failure (non-finite factors or a matrix that is not positive definite)";
	}
	return "unknown status";
}
