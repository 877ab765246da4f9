/*
 * kp_kmeans.h -- k-means clustering of vectors (users' factor vectors).
 *
 * Lloyd's iterations (Lloyd, "Least squares quantization in PCM", IEEE
 * Trans. Inf. Theory 28(2), 1982) from k-means++ seeding (Arthur &
 * Vassilvitskii, "k-means++: The Advantages of Careful Seeding", SODA
 * 2007): the first centre is a point drawn uniformly, each further centre a
 * point drawn with probability proportional to its squared distance to the
 * nearest centre chosen so far.
 *
 * The assignment step computes ‖c‖² − 2·p·c for blocks of points against
 * blocks of centroids with one sgemm each (the ‖p‖² term does not change
 * the nearest centroid).  A point changes cluster only for a strictly
 * nearer centroid (so duplicate centroids do not trade points back and
 * forth); among equally near ones it takes the lower index.  Centroids are
 * means accumulated in double.  A cluster left empty by an assignment step
 * is re-seeded, in cluster order, with the point farthest from its own
 * centroid (ties to the lower point index) among clusters that keep at
 * least one other point, so no cluster is ever empty.  Iterations stop when
 * an assignment step changes no assignment, or after max_iterations.
 *
 * Cost: seeding O(n_points·n_clusters·dims) in plain loops (it is
 * sequential by nature), each iteration the same in sgemm.  Memory beyond
 * the outputs: kp_kmeans_bytes.  Same input, seed and BLAS thread count:
 * same bits out.
 */
#ifndef KP_KMEANS_H
#define KP_KMEANS_H

#include "kp_core.h"

#define KP_KMEANS_MAX_DIMS 1026		/* user vectors of every model (als: f + 2) */
#define KP_KMEANS_MAX_ITERATIONS 10000
/* Points must be finite with |value| <= this, so no squared distance overflows. */
#define KP_KMEANS_MAX_ABS_VALUE 1e15f

typedef struct kp_kmeans_info
{
	int32_t		iterations;		/* assignment steps run, 1 .. max_iterations */
	int			converged;		/* the last assignment step changed nothing */
	int32_t		reseeded;		/* empty clusters re-seeded, over all iterations */
	double		inertia;		/* Σ distances², over the returned distances */
} kp_kmeans_info;

/* Bytes kp_kmeans allocates, or SIZE_MAX if the sizes overflow. */
size_t		kp_kmeans_bytes(int32_t n_points, int32_t dims, int32_t n_clusters);

/*
 * Clusters points (n_points × dims, row-major) into n_clusters, 1 <=
 * n_clusters <= n_points.  Writes assignments (n_points cluster indices),
 * distances (n_points Euclidean distances from each point to the centroid
 * of its cluster, computed directly, not by the sgemm expansion) and
 * centroids (n_clusters × dims, the means of their points).  The
 * assignments are those of the last assignment step; unless converged,
 * the centroids have moved once since, so a point's centroid need not be
 * its nearest one.  info may be NULL.
 *
 * dims in [1, KP_KMEANS_MAX_DIMS], max_iterations in [1,
 * KP_KMEANS_MAX_ITERATIONS], points finite within KP_KMEANS_MAX_ABS_VALUE:
 * else KP_EINVAL.  Calls interrupt (if not NULL) every few milliseconds;
 * KP_ECANCELLED when it returns nonzero (outputs then undefined).
 */
kp_status	kp_kmeans(const kp_allocator *alloc, const float *points, int32_t n_points,
					  int32_t dims, int32_t n_clusters, int32_t max_iterations,
					  uint64_t seed, int32_t *assignments, float *distances,
					  float *centroids, kp_kmeans_info *info,
					  kp_interrupt_fn interrupt, void *interrupt_arg);

#endif							/* KP_KMEANS_H */
