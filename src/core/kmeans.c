/*
 * kmeans.c -- k-means++ seeding and Lloyd's iterations; see kp_kmeans.h.
 *
 * Arthur & Vassilvitskii, "k-means++: The Advantages of Careful Seeding",
 * SODA 2007; Lloyd, "Least squares quantization in PCM", IEEE Trans. Inf.
 * Theory 28(2), 1982.
 *
 * Squared distances of the seeding and of the final distances are summed
 * in DIST_LANES independent partial sums, which gcc vectorises without
 * -ffast-math, always in the same order.  The assignment step goes through
 * sgemm in POINT_BLOCK × CLUSTER_BLOCK tiles, so its scratch is bounded
 * (1 MB) whatever the number of clusters, and the callback is asked once
 * per tile.
 */
#include <math.h>
#include <string.h>

#include <cblas.h>

#include "kp_kmeans.h"

#define POINT_BLOCK 256
#define CLUSTER_BLOCK 1024

/* Points between interrupt checks in O(n·dims) loops. */
#define POINT_CHUNK 8192

#define DIST_LANES 16

#define GOLDEN_GAMMA UINT64_C(0x9e3779b97f4a7c15)

static inline float
squared_distance(const float *restrict a, const float *restrict b, int32_t n)
{
	float		lanes[DIST_LANES] = {0};
	float		sum = 0.0f;
	int32_t		k = 0;
	int32_t		j;

	for (; k + DIST_LANES <= n; k += DIST_LANES)
		for (j = 0; j < DIST_LANES; j++)
		{
			float		d = a[k + j] - b[k + j];

			lanes[j] += d * d;
		}
	for (; k < n; k++)
		sum += (a[k] - b[k]) * (a[k] - b[k]);
	for (j = 0; j < DIST_LANES; j++)
		sum += lanes[j];
	return sum;
}

static inline float
squared_norm(const float *restrict a, int32_t n)
{
	float		lanes[DIST_LANES] = {0};
	float		sum = 0.0f;
	int32_t		k = 0;
	int32_t		j;

	for (; k + DIST_LANES <= n; k += DIST_LANES)
		for (j = 0; j < DIST_LANES; j++)
			lanes[j] += a[k + j] * a[k + j];
	for (; k < n; k++)
		sum += a[k] * a[k];
	for (j = 0; j < DIST_LANES; j++)
		sum += lanes[j];
	return sum;
}

/* The draw-th uniform number in [0, 1) of the stream keyed by seed. */
static double
uniform(uint64_t key, uint64_t draw)
{
	uint64_t	bits = kp_mix64(key + (draw + 1) * GOLDEN_GAMMA);

	return (double) (bits >> 11) * (1.0 / 9007199254740992.0);
}

static inline int
cancelled(kp_interrupt_fn interrupt, void *interrupt_arg)
{
	return interrupt != NULL && interrupt(interrupt_arg);
}

size_t
kp_kmeans_bytes(int32_t n_points, int32_t dims, int32_t n_clusters)
{
	size_t		sums;
	size_t		total;

	if (n_points < 0 || dims < 0 || n_clusters < 0 ||
		!kp_mul_size((size_t) n_clusters, (size_t) dims * sizeof(double), &sums))
		return SIZE_MAX;
	/* counts, centroid norms, one tile of dot products, best per point */
	total = (size_t) n_clusters * (sizeof(int32_t) + sizeof(float)) +
		(size_t) POINT_BLOCK * CLUSTER_BLOCK * sizeof(float) +
		(size_t) POINT_BLOCK * (2 * sizeof(float) + sizeof(int32_t));
	if (sums > SIZE_MAX - total)
		return SIZE_MAX;
	return sums + total;
}

/*
 * k-means++: centroids get n_clusters distinct points when the points
 * allow it.  d2 (n_points floats) holds each point's squared distance to
 * the nearest centre chosen so far.
 */
static kp_status
seed_centroids(const float *points, int32_t n, int32_t f, int32_t k,
			   uint64_t seed, float *centroids, float *d2,
			   kp_interrupt_fn interrupt, void *interrupt_arg)
{
	uint64_t	key = kp_mix64(seed ^ UINT64_C(0x6b6d65616e732b2b));	/* "kmeans++" */
	int32_t		chosen = (int32_t) (uniform(key, 0) * n);
	int32_t		c;
	int32_t		i;

	if (chosen >= n)
		chosen = n - 1;
	memcpy(centroids, points + (size_t) chosen * f, (size_t) f * sizeof(float));
	for (i = 0; i < n; i++)
	{
		if (i % POINT_CHUNK == 0 && cancelled(interrupt, interrupt_arg))
			return KP_ECANCELLED;
		d2[i] = squared_distance(points + (size_t) i * f, centroids, f);
	}

	for (c = 1; c < k; c++)
	{
		const float *centre;
		double		total = 0.0;
		double		target;
		double		cumulative = 0.0;

		if (cancelled(interrupt, interrupt_arg))
			return KP_ECANCELLED;
		for (i = 0; i < n; i++)
			total += d2[i];
		target = uniform(key, (uint64_t) c) * total;
		if (total > 0.0)
		{
			chosen = -1;
			for (i = 0; i < n; i++)
			{
				if (d2[i] > 0.0f)
				{
					cumulative += d2[i];
					chosen = i;
					if (cumulative > target)
						break;
				}
			}
		}
		else
		{
			/* every point sits on a centre: any choice duplicates one */
			chosen = (int32_t) (uniform(key, (uint64_t) c) * n);
			if (chosen >= n)
				chosen = n - 1;
		}
		centre = points + (size_t) chosen * f;
		memcpy(centroids + (size_t) c * f, centre, (size_t) f * sizeof(float));
		for (i = 0; i < n; i++)
		{
			float		d;

			if (i % POINT_CHUNK == POINT_CHUNK - 1 && cancelled(interrupt, interrupt_arg))
				return KP_ECANCELLED;
			d = squared_distance(points + (size_t) i * f, centre, f);
			if (d < d2[i])
				d2[i] = d;
		}
	}
	return KP_OK;
}

typedef struct kmeans_scratch
{
	double	   *sums;			/* k × f */
	int32_t    *counts;			/* k */
	float	   *norms;			/* k: ‖c‖² */
	float	   *dots;			/* POINT_BLOCK × CLUSTER_BLOCK */
	float	   *best;			/* POINT_BLOCK */
	int32_t    *best_cluster;	/* POINT_BLOCK */
	float	   *current;		/* POINT_BLOCK: value of the point's own cluster */
} kmeans_scratch;

/*
 * Assigns every point to the centroid minimising ‖c‖² − 2·p·c, keeping its
 * current cluster unless another is strictly nearer (ties among the others
 * to the lower index); counts the assignments that changed and fills
 * s->counts.
 */
static kp_status
assign_points(const float *points, int32_t n, int32_t f, int32_t k,
			  const float *centroids, int32_t *assignments, int64_t *changed,
			  kmeans_scratch *s, kp_interrupt_fn interrupt, void *interrupt_arg)
{
	int32_t		pb;
	int32_t		c;

	for (c = 0; c < k; c++)
	{
		s->norms[c] = squared_norm(centroids + (size_t) c * f, f);
		s->counts[c] = 0;
	}

	*changed = 0;
	for (pb = 0; pb < n; pb += POINT_BLOCK)
	{
		int32_t		np = n - pb < POINT_BLOCK ? n - pb : POINT_BLOCK;
		int32_t		cb;
		int32_t		p;

		for (p = 0; p < np; p++)
		{
			s->best[p] = INFINITY;
			s->best_cluster[p] = 0;
			s->current[p] = INFINITY;
		}
		for (cb = 0; cb < k; cb += CLUSTER_BLOCK)
		{
			int32_t		nc = k - cb < CLUSTER_BLOCK ? k - cb : CLUSTER_BLOCK;

			if (cancelled(interrupt, interrupt_arg))
				return KP_ECANCELLED;
			cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, np, nc, f,
						1.0f, points + (size_t) pb * f, f,
						centroids + (size_t) cb * f, f, 0.0f, s->dots, nc);
			for (p = 0; p < np; p++)
			{
				const float *row = s->dots + (size_t) p * nc;
				const float *norms = s->norms + cb;
				float		best = s->best[p];
				int32_t		best_cluster = s->best_cluster[p];
				int32_t		own = assignments[pb + p] - cb;
				int32_t		j;

				for (j = 0; j < nc; j++)
				{
					float		value = norms[j] - 2.0f * row[j];

					if (value < best)
					{
						best = value;
						best_cluster = cb + j;
					}
				}
				if (own >= 0 && own < nc)
					s->current[p] = norms[own] - 2.0f * row[own];
				s->best[p] = best;
				s->best_cluster[p] = best_cluster;
			}
		}
		for (p = 0; p < np; p++)
		{
			/* a point leaves its cluster only for a strictly nearer centroid */
			if (s->current[p] <= s->best[p])
				s->best_cluster[p] = assignments[pb + p];
			if (assignments[pb + p] != s->best_cluster[p])
			{
				assignments[pb + p] = s->best_cluster[p];
				(*changed)++;
			}
			s->counts[s->best_cluster[p]]++;
		}
	}
	return KP_OK;
}

/*
 * Gives every empty cluster the point farthest from its own centroid among
 * clusters with two or more points.  d2: scratch of n_points floats.
 */
static kp_status
reseed_empty(const float *points, int32_t n, int32_t f, int32_t k,
			 const float *centroids, int32_t *assignments, float *d2,
			 int64_t *changed, int32_t *reseeded, kmeans_scratch *s,
			 kp_interrupt_fn interrupt, void *interrupt_arg)
{
	int			have_distances = 0;
	int32_t		c;
	int32_t		i;

	for (c = 0; c < k; c++)
	{
		int32_t		farthest = -1;

		if (s->counts[c] > 0)
			continue;
		if (!have_distances)
		{
			for (i = 0; i < n; i++)
			{
				if (i % POINT_CHUNK == 0 && cancelled(interrupt, interrupt_arg))
					return KP_ECANCELLED;
				d2[i] = squared_distance(points + (size_t) i * f,
										 centroids + (size_t) assignments[i] * f, f);
			}
			have_distances = 1;
		}
		if (cancelled(interrupt, interrupt_arg))
			return KP_ECANCELLED;
		for (i = 0; i < n; i++)
		{
			if (d2[i] >= 0.0f && s->counts[assignments[i]] > 1 &&
				(farthest < 0 || d2[i] > d2[farthest]))
				farthest = i;
		}
		/* k <= n, so while a cluster is empty another holds two points */
		s->counts[assignments[farthest]]--;
		assignments[farthest] = c;
		s->counts[c] = 1;
		d2[farthest] = -1.0f;	/* moved: never picked again */
		(*changed)++;
		(*reseeded)++;
	}
	return KP_OK;
}

/* Centroids ← means of their points, summed in double. */
static kp_status
update_centroids(const float *points, int32_t n, int32_t f, int32_t k,
				 const int32_t *assignments, float *centroids, kmeans_scratch *s,
				 kp_interrupt_fn interrupt, void *interrupt_arg)
{
	int32_t		i;
	int32_t		c;

	memset(s->sums, 0, (size_t) k * f * sizeof(double));
	for (i = 0; i < n; i++)
	{
		const float *p = points + (size_t) i * f;
		double	   *sum = s->sums + (size_t) assignments[i] * f;
		int32_t		j;

		if (i % POINT_CHUNK == 0 && cancelled(interrupt, interrupt_arg))
			return KP_ECANCELLED;
		for (j = 0; j < f; j++)
			sum[j] += p[j];
	}
	for (c = 0; c < k; c++)
	{
		const double *sum = s->sums + (size_t) c * f;
		float	   *centre = centroids + (size_t) c * f;
		int32_t		j;

		for (j = 0; j < f; j++)
			centre[j] = (float) (sum[j] / s->counts[c]);
	}
	return KP_OK;
}

kp_status
kp_kmeans(const kp_allocator *alloc, const float *points, int32_t n_points,
		  int32_t dims, int32_t n_clusters, int32_t max_iterations,
		  uint64_t seed, int32_t *assignments, float *distances,
		  float *centroids, kp_kmeans_info *info,
		  kp_interrupt_fn interrupt, void *interrupt_arg)
{
	int32_t		f = dims;
	int32_t		n = n_points;
	int32_t		k = n_clusters;
	kmeans_scratch s;
	kp_status	status;
	int32_t		iteration;
	int64_t		changed = 0;
	int32_t		reseeded = 0;
	double		inertia = 0.0;
	size_t		total;
	size_t		v;
	int32_t		i;

	if (dims < 1 || dims > KP_KMEANS_MAX_DIMS || n_points < 1 ||
		n_clusters < 1 || n_clusters > n_points ||
		max_iterations < 1 || max_iterations > KP_KMEANS_MAX_ITERATIONS)
		return KP_EINVAL;
	if (!kp_mul_size((size_t) n, (size_t) f, &total))
		return KP_EINVAL;
	for (v = 0; v < total; v++)
	{
		if (!(fabsf(points[v]) <= KP_KMEANS_MAX_ABS_VALUE))
			return KP_EINVAL;
	}
	if (kp_kmeans_bytes(n, f, k) == SIZE_MAX)
		return KP_ENOMEM;

	memset(&s, 0, sizeof(s));
	s.sums = kp_alloc(alloc, (size_t) k * f * sizeof(double));
	s.counts = kp_alloc(alloc, (size_t) k * sizeof(int32_t));
	s.norms = kp_alloc(alloc, (size_t) k * sizeof(float));
	s.dots = kp_alloc(alloc, (size_t) POINT_BLOCK * CLUSTER_BLOCK * sizeof(float));
	s.best = kp_alloc(alloc, (size_t) POINT_BLOCK * sizeof(float));
	s.best_cluster = kp_alloc(alloc, (size_t) POINT_BLOCK * sizeof(int32_t));
	s.current = kp_alloc(alloc, (size_t) POINT_BLOCK * sizeof(float));
	if (!s.sums || !s.counts || !s.norms || !s.dots || !s.best || !s.best_cluster ||
		!s.current)
	{
		status = KP_ENOMEM;
		goto done;
	}

	/* distances serves as scratch until the end */
	status = seed_centroids(points, n, f, k, seed, centroids, distances,
							interrupt, interrupt_arg);
	if (status != KP_OK)
		goto done;
	for (i = 0; i < n; i++)
		assignments[i] = -1;

	for (iteration = 1; iteration <= max_iterations; iteration++)
	{
		status = assign_points(points, n, f, k, centroids, assignments, &changed,
							   &s, interrupt, interrupt_arg);
		if (status == KP_OK)
			status = reseed_empty(points, n, f, k, centroids, assignments, distances,
								  &changed, &reseeded, &s, interrupt, interrupt_arg);
		if (status != KP_OK)
			goto done;
		if (changed == 0)
			break;
		/* the centroids are the means of the assignments just made */
		status = update_centroids(points, n, f, k, assignments, centroids, &s,
								  interrupt, interrupt_arg);
		if (status != KP_OK)
			goto done;
	}

	for (i = 0; i < n; i++)
	{
		float		d2;

		if (i % POINT_CHUNK == 0 && cancelled(interrupt, interrupt_arg))
		{
			status = KP_ECANCELLED;
			goto done;
		}
		d2 = squared_distance(points + (size_t) i * f,
							  centroids + (size_t) assignments[i] * f, f);
		distances[i] = sqrtf(d2);
		inertia += d2;
	}
	if (info)
	{
		info->iterations = iteration > max_iterations ? max_iterations : iteration;
		info->converged = changed == 0;
		info->reseeded = reseeded;
		info->inertia = inertia;
	}

done:
	kp_free(alloc, s.sums);
	kp_free(alloc, s.counts);
	kp_free(alloc, s.norms);
	kp_free(alloc, s.dots);
	kp_free(alloc, s.best);
	kp_free(alloc, s.best_cluster);
	kp_free(alloc, s.current);
	return status;
}
