/*
 * test_kmeans.c -- k-means: blobs recovered exactly, determinism, the
 * n_clusters = n_points and n_clusters = 1 extremes, nearest-centroid
 * assignments against brute force in double (across sgemm tile edges),
 * empty-cluster re-seeding, bad input, allocation failure, cancellation.
 */
#include <stdint.h>
#include <string.h>

#include "kp_kmeans.h"
#include "unit.h"

static uint64_t rng_state = 99;

static double
rng_unit(void)
{
	return (double) (kp_mix64(rng_state += UINT64_C(0x9e3779b97f4a7c15)) >> 11) *
		(1.0 / 9007199254740992.0);
}

static double
distance2_double(const float *a, const float *b, int f)
{
	double		sum = 0.0;
	int			j;

	for (j = 0; j < f; j++)
		sum += ((double) a[j] - b[j]) * ((double) a[j] - b[j]);
	return sum;
}

/*
 * Every centroid is the mean of its points (within float rounding) and
 * every distance is ‖p − c‖; no cluster empty.
 */
static int
consistent(const float *points, int32_t n, int f, int32_t k,
		   const int32_t *assignments, const float *distances, const float *centroids)
{
	double	   *sums = calloc((size_t) k * f, sizeof(double));
	int32_t    *counts = calloc(k, sizeof(int32_t));
	int			ok = 1;
	int32_t		i;
	int			j;

	for (i = 0; i < n; i++)
	{
		if (assignments[i] < 0 || assignments[i] >= k)
		{
			ok = 0;
			break;
		}
		counts[assignments[i]]++;
		for (j = 0; j < f; j++)
			sums[(size_t) assignments[i] * f + j] += points[(size_t) i * f + j];
		if (fabs(distances[i] - sqrt(distance2_double(points + (size_t) i * f,
													  centroids + (size_t) assignments[i] * f, f)))
			> 1e-4 * fmax(1.0, distances[i]))
			ok = 0;
	}
	for (i = 0; i < k && ok; i++)
	{
		if (counts[i] == 0)
			ok = 0;
		for (j = 0; j < f && ok; j++)
			if (!unit_close(centroids[(size_t) i * f + j], sums[(size_t) i * f + j] / counts[i], 1e-5))
				ok = 0;
	}
	free(sums);
	free(counts);
	return ok;
}

/* Every point's centroid is its nearest, up to near-ties of relative size tol. */
static int
nearest(const float *points, int32_t n, int f, int32_t k,
		const int32_t *assignments, const float *centroids, double tol)
{
	int32_t		i;
	int32_t		c;

	for (i = 0; i < n; i++)
	{
		double		own = distance2_double(points + (size_t) i * f,
										   centroids + (size_t) assignments[i] * f, f);

		for (c = 0; c < k; c++)
			if (distance2_double(points + (size_t) i * f, centroids + (size_t) c * f, f) <
				own - tol * fmax(1.0, own))
				return 0;
	}
	return 1;
}

static void
test_blobs(void)
{
	enum
	{
		N_BLOBS = 6, F = 8
	};
	/* sizes far apart: seeding by uniform draws would mostly miss the small ones */
	const int32_t sizes[N_BLOBS] = {2000, 100, 30, 10, 5, 2};
	int32_t		n = 2147;
	float	   *points = malloc(sizeof(float) * n * F);
	int32_t    *labels = malloc(sizeof(int32_t) * n);
	int32_t    *assignments = malloc(sizeof(int32_t) * n);
	float	   *distances = malloc(sizeof(float) * n);
	float		centres[N_BLOBS][F];
	float		centroids[N_BLOBS * F];
	int			all_exact = 1;
	int			all_converged = 1;
	uint64_t	seed;
	int32_t		i;
	int			b,
				j;

	for (b = 0; b < N_BLOBS; b++)
		for (j = 0; j < F; j++)
			centres[b][j] = (float) (2000.0 * rng_unit() - 1000.0);
	/* blob members spread over the order of points */
	for (i = 0; i < n; i++)
		labels[i] = -1;
	for (b = 0; b < N_BLOBS; b++)
	{
		int32_t		placed = 0;

		while (placed < sizes[b])
		{
			int32_t		at = (int32_t) (rng_unit() * n);

			if (labels[at] < 0)
			{
				labels[at] = b;
				placed++;
			}
		}
	}
	for (i = 0; i < n; i++)
	{
		for (j = 0; j < F; j++)
			points[(size_t) i * F + j] = centres[labels[i]][j] + (float) (2.0 * rng_unit() - 1.0);
	}
	for (seed = 1; seed <= 10; seed++)
	{
		kp_kmeans_info info;
		int32_t		cluster_of_blob[N_BLOBS];
		int32_t		blob_of_cluster[N_BLOBS];
		kp_status	status;

		status = kp_kmeans(&kp_malloc_allocator, points, n, F, N_BLOBS, 100, seed,
						   assignments, distances, centroids, &info, NULL, NULL);
		if (status != KP_OK || !info.converged)
			all_converged = 0;
		for (b = 0; b < N_BLOBS; b++)
			cluster_of_blob[b] = blob_of_cluster[b] = -1;
		for (i = 0; i < n && status == KP_OK; i++)
		{
			int32_t		c = assignments[i];

			if (cluster_of_blob[labels[i]] < 0 && blob_of_cluster[c] < 0)
			{
				cluster_of_blob[labels[i]] = c;
				blob_of_cluster[c] = labels[i];
			}
			if (cluster_of_blob[labels[i]] != c || blob_of_cluster[c] != labels[i])
				all_exact = 0;
		}
		if (!consistent(points, n, F, N_BLOBS, assignments, distances, centroids))
			all_exact = 0;
	}
	unit_ok(all_converged, "six blobs: converged for seeds 1..10");
	unit_ok(all_exact, "six well-separated blobs of 2000 down to 2 points are recovered "
			"exactly for seeds 1..10");

	free(points);
	free(labels);
	free(assignments);
	free(distances);
}

static void
test_determinism_and_nearest(void)
{
	int32_t		n = 3000;
	int			f = 5;
	int32_t		k = 1100;			/* more than one tile of clusters */
	float	   *points = malloc(sizeof(float) * n * f);
	int32_t    *a1 = malloc(sizeof(int32_t) * n);
	int32_t    *a2 = malloc(sizeof(int32_t) * n);
	float	   *d1 = malloc(sizeof(float) * n);
	float	   *d2 = malloc(sizeof(float) * n);
	float	   *c1 = malloc(sizeof(float) * k * f);
	float	   *c2 = malloc(sizeof(float) * k * f);
	kp_kmeans_info info1,
				info2;
	unit_counting counting = {0};
	kp_allocator alloc = unit_counting_allocator(&counting);
	int32_t		i;

	for (i = 0; i < n * f; i++)
		points[i] = (float) (rng_unit() * 10.0 - 5.0);

	kp_kmeans(&alloc, points, n, f, k, 200, 7, a1, d1, c1, &info1, NULL, NULL);
	kp_kmeans(&alloc, points, n, f, k, 200, 7, a2, d2, c2, &info2, NULL, NULL);
	unit_ok(memcmp(a1, a2, sizeof(int32_t) * n) == 0 && memcmp(d1, d2, sizeof(float) * n) == 0 &&
			memcmp(c1, c2, sizeof(float) * k * f) == 0 && info1.iterations == info2.iterations,
			"same seed, same bits (%d iterations)", info1.iterations);
	unit_ok(info1.converged && consistent(points, n, f, k, a1, d1, c1) &&
			nearest(points, n, f, k, a1, c1, 1e-4),
			"1100 clusters (two sgemm tiles): converged, each point at its nearest centroid, "
			"centroids the means");
	unit_ok(counting.live == 0 && counting.total_bytes <= 2 * kp_kmeans_bytes(n, f, k),
			"memory as kp_kmeans_bytes says, all released");

	kp_kmeans(&kp_malloc_allocator, points, n, f, k, 200, 8, a2, d2, c2, &info2, NULL, NULL);
	unit_ok(memcmp(c1, c2, sizeof(float) * k * f) != 0, "another seed, other centroids");

	/* one iteration only: not converged, centroids the means of its assignments */
	kp_kmeans(&kp_malloc_allocator, points, n, f, 40, 1, 7, a2, d2, c2, &info2, NULL, NULL);
	unit_ok(info2.iterations == 1 && !info2.converged && consistent(points, n, f, 40, a2, d2, c2),
			"max_iterations 1: stops unconverged with consistent output");
	{
		double		inertia = 0.0;

		for (i = 0; i < n; i++)
			inertia += (double) d2[i] * d2[i];
		unit_ok(unit_close(info2.inertia, inertia, 1e-5), "inertia is the sum of squared distances");
	}

	free(points);
	free(a1);
	free(a2);
	free(d1);
	free(d2);
	free(c1);
	free(c2);
}

static void
test_extremes(void)
{
	int32_t		n = 300;
	int			f = 7;
	float	   *points = malloc(sizeof(float) * n * f);
	int32_t    *assignments = malloc(sizeof(int32_t) * n);
	float	   *distances = malloc(sizeof(float) * n);
	float	   *centroids = malloc(sizeof(float) * n * f);
	char	   *used = calloc(n, 1);
	double		mean[7] = {0};
	kp_kmeans_info info;
	kp_status	status;
	int			ok = 1;
	int32_t		i;
	int			j;

	for (i = 0; i < n * f; i++)
		points[i] = (float) (rng_unit() * 4.0 + 100.0);

	status = kp_kmeans(&kp_malloc_allocator, points, n, f, n, 50, 3, assignments, distances,
					   centroids, &info, NULL, NULL);
	for (i = 0; i < n && status == KP_OK; i++)
	{
		if (distances[i] != 0.0f || used[assignments[i]])
			ok = 0;
		used[assignments[i]] = 1;
	}
	unit_ok(status == KP_OK && ok && info.converged,
			"n_clusters = n_points: one point per cluster, every distance exactly 0");

	status = kp_kmeans(&kp_malloc_allocator, points, n, f, 1, 50, 3, assignments, distances,
					   centroids, &info, NULL, NULL);
	for (i = 0; i < n; i++)
		for (j = 0; j < f; j++)
			mean[j] += points[(size_t) i * f + j] / n;
	ok = status == KP_OK && info.converged && info.iterations == 2;
	for (j = 0; j < f; j++)
		ok = ok && unit_close(centroids[j], mean[j], 1e-6);
	for (i = 0; i < n; i++)
		ok = ok && assignments[i] == 0 &&
			fabs(distances[i] - sqrt(distance2_double(points + (size_t) i * f, centroids, f))) < 1e-4;
	unit_ok(ok, "n_clusters = 1: the centroid is the mean, distances to it");

	/*
	 * Ten points, six of them identical, eight clusters: seeding runs out
	 * of distinct points, clusters come out empty and are re-seeded.
	 */
	{
		float		few[10 * 2] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 5, 5, 9, 1, -3, 4, 7, -7};
		int32_t		a[10];
		float		d[10];
		float		c[8 * 2];

		status = kp_kmeans(&kp_malloc_allocator, few, 10, 2, 8, 50, 11, a, d, c, &info, NULL, NULL);
		unit_ok(status == KP_OK && info.reseeded > 0 && info.converged &&
				consistent(few, 10, 2, 8, a, d, c),
				"duplicate points: empty clusters re-seeded (%d), none left empty, converged", info.reseeded);
	}

	free(points);
	free(assignments);
	free(distances);
	free(centroids);
	free(used);
}

static int
cancel_after(void *arg)
{
	int		   *calls = arg;

	return --*calls <= 0;
}

static void
test_failures(void)
{
	int32_t		n = 20000;
	int			f = 16;
	float	   *points = malloc(sizeof(float) * n * f);
	int32_t    *assignments = malloc(sizeof(int32_t) * n);
	float	   *distances = malloc(sizeof(float) * n);
	float	   *centroids = malloc(sizeof(float) * 64 * f);
	unit_counting counting = {0};
	kp_allocator alloc;
	int			total_calls;
	int			calls;
	int			all_cancelled = 1;
	int			at;
	int32_t		i;

	for (i = 0; i < n * f; i++)
		points[i] = (float) rng_unit();

	calls = 1 << 30;
	kp_kmeans(&kp_malloc_allocator, points, n, f, 64, 30, 1, assignments, distances, centroids,
			  NULL, cancel_after, &calls);
	total_calls = (1 << 30) - calls;
	unit_ok(total_calls > 64 * 2, "the callback is asked often (%d calls)", total_calls);
	/* cancel at points spread over seeding, assignments, updates */
	for (at = 1; at <= total_calls; at += total_calls / 17 + 1)
	{
		counting = (unit_counting) {0};
		alloc = unit_counting_allocator(&counting);
		calls = at;
		if (kp_kmeans(&alloc, points, n, f, 64, 30, 1, assignments, distances, centroids,
					  NULL, cancel_after, &calls) != KP_ECANCELLED || counting.live != 0)
			all_cancelled = 0;
	}
	unit_ok(all_cancelled, "cancelled wherever the callback says so, nothing leaked");

	for (at = 1; at <= 7; at++)
	{
		counting = (unit_counting) {0};
		counting.fail_at = at;
		alloc = unit_counting_allocator(&counting);
		if (kp_kmeans(&alloc, points, 100, f, 5, 30, 1, assignments, distances, centroids,
					  NULL, NULL, NULL) != KP_ENOMEM || counting.live != 0)
			all_cancelled = 0;
	}
	unit_ok(all_cancelled, "every allocation failure gives KP_ENOMEM, nothing leaked");

	unit_ok(kp_kmeans(&kp_malloc_allocator, points, 100, f, 0, 30, 1, assignments, distances,
					  centroids, NULL, NULL, NULL) == KP_EINVAL &&
			kp_kmeans(&kp_malloc_allocator, points, 10, f, 11, 30, 1, assignments, distances,
					  centroids, NULL, NULL, NULL) == KP_EINVAL &&
			kp_kmeans(&kp_malloc_allocator, points, 0, f, 1, 30, 1, assignments, distances,
					  centroids, NULL, NULL, NULL) == KP_EINVAL &&
			kp_kmeans(&kp_malloc_allocator, points, 100, 0, 1, 30, 1, assignments, distances,
					  centroids, NULL, NULL, NULL) == KP_EINVAL &&
			kp_kmeans(&kp_malloc_allocator, points, 100, f, 1, 0, 1, assignments, distances,
					  centroids, NULL, NULL, NULL) == KP_EINVAL,
			"n_clusters outside [1, n_points], no points, dims 0, max_iterations 0 are rejected");
	unit_ok(kp_kmeans(&kp_malloc_allocator, points, 10, KP_KMEANS_MAX_DIMS + 1, 2, 30, 1, assignments,
					  distances, centroids, NULL, NULL, NULL) == KP_EINVAL,
			"more than 1026 dimensions are rejected");
	points[17] = NAN;
	unit_ok(kp_kmeans(&kp_malloc_allocator, points, 100, f, 4, 30, 1, assignments, distances,
					  centroids, NULL, NULL, NULL) == KP_EINVAL, "a NaN point is rejected");
	points[17] = 1e30f;
	unit_ok(kp_kmeans(&kp_malloc_allocator, points, 100, f, 4, 30, 1, assignments, distances,
					  centroids, NULL, NULL, NULL) == KP_EINVAL, "a value beyond 1e15 is rejected");

	free(points);
	free(assignments);
	free(distances);
	free(centroids);
}

int
main(void)
{
	test_blobs();
	test_determinism_and_nearest();
	test_extremes();
	test_failures();
	return unit_done();
}
