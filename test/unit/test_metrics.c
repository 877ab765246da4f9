/*
 * test_metrics.c -- ranking metrics against hand-computed values and
 * against shared/bench/recbench.py: its self-test's hand example, its first
 * random trials with the means recbench.py computed (embedded below), and
 * a port of its plain reference on random cases of our own; intra-list
 * diversity by hand.
 */
#include <stdint.h>
#include <string.h>

#include "kp_metrics.h"
#include "unit.h"

static uint64_t rng_state = 7;

static uint64_t
rng_next(void)
{
	uint64_t	z = (rng_state += UINT64_C(0x9e3779b97f4a7c15));

	z = (z ^ (z >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
	z = (z ^ (z >> 27)) * UINT64_C(0x94d049bb133111eb);
	return z ^ (z >> 31);
}

static int32_t
rng_below(int32_t n)
{
	return (int32_t) (rng_next() % (uint64_t) n);
}

static int
metrics_close(const kp_rank_metrics *m, double precision, double recall,
			  double ndcg, double ap, double tol)
{
	return fabs(m->precision - precision) <= tol &&
		fabs(m->recall - recall) <= tol &&
		fabs(m->ndcg - ndcg) <= tol &&
		fabs(m->average_precision - ap) <= tol;
}

/* One trial of recbench.py's self-test: the users' relevant sets and recs. */
typedef struct selftest_trial
{
	int32_t		n_users;
	int32_t		k;
	int32_t		offset;			/* into selftest_data */
	double		precision;
	double		recall;
	double		ndcg;
	double		map;
} selftest_trial;

/*
 * Per user: |relevant|, the relevant ids ascending, the number of recs, the
 * recs best first (recbench.py's -1 padding dropped).  The expected values
 * are recbench.ranking_metrics' means over the trial's users.
 */
/* Generated with recbench.py from its self_test: the first 10 random trials (numpy default_rng(0)). */
static const int64_t selftest_data[] = {
	13, 0, 1, 2, 5, 17, 21, 24, 26, 27, 31, 35, 36, 39, 0, 1, 4, 6, 0, 37, 19,
	39, 24, 10, 15, 4, 12, 14, 17, 18, 19, 20, 21, 24, 25, 28, 31, 34, 35, 39,
	0, 15, 1, 2, 5, 7, 9, 10, 12, 18, 21, 22, 23, 24, 28, 33, 36, 0, 20, 0, 1,
	5, 9, 11, 12, 13, 14, 16, 17, 20, 21, 25, 30, 31, 33, 34, 35, 36, 39, 6, 36,
	35, 24, 0, 38, 33, 15, 3, 5, 7, 8, 10, 11, 13, 16, 26, 27, 30, 31, 33, 34,
	36, 6, 12, 34, 1, 0, 27, 17, 11, 1, 2, 8, 12, 15, 16, 20, 22, 26, 34, 38, 3,
	35, 4, 31, 18, 0, 2, 6, 8, 10, 12, 18, 19, 20, 21, 22, 23, 24, 29, 32, 33,
	36, 37, 0, 2, 16, 33, 2, 13, 16, 39, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11,
	12, 13, 14, 15, 16, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 31,
	32, 33, 34, 35, 36, 37, 38, 39, 1, 21, 27, 1, 2, 3, 4, 5, 6, 8, 9, 12, 13,
	16, 17, 18, 19, 20, 22, 24, 25, 27, 28, 29, 31, 34, 36, 37, 38, 39, 3, 37,
	7, 19, 33, 0, 1, 2, 3, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 18, 19, 20,
	21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 31, 34, 37, 38, 39, 6, 0, 15, 37,
	25, 38, 11, 8, 4, 8, 11, 15, 25, 30, 34, 39, 0, 12, 1, 4, 8, 11, 18, 19, 21,
	22, 27, 31, 32, 36, 4, 9, 29, 12, 15, 31, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11,
	12, 13, 14, 15, 16, 17, 18, 19, 21, 22, 23, 24, 25, 30, 31, 32, 33, 35, 36,
	37, 1, 8, 14, 4, 5, 10, 11, 13, 14, 15, 19, 20, 25, 27, 33, 36, 37, 2, 16,
	19, 33, 0, 1, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 14, 15, 16, 17, 18, 19, 20,
	25, 26, 27, 29, 30, 31, 32, 33, 34, 35, 36, 37, 38, 39, 6, 14, 33, 35, 10,
	18, 31, 24, 3, 4, 7, 8, 10, 11, 12, 14, 15, 18, 19, 20, 21, 22, 23, 24, 25,
	29, 30, 33, 34, 35, 37, 39, 4, 27, 23, 17, 11, 7, 1, 6, 11, 13, 21, 25, 34,
	2, 9, 5, 15, 1, 2, 5, 12, 14, 15, 18, 22, 26, 27, 28, 31, 33, 34, 39, 0, 29,
	1, 3, 5, 6, 7, 9, 11, 12, 13, 14, 15, 16, 17, 18, 19, 21, 22, 23, 25, 26,
	27, 29, 30, 31, 32, 35, 36, 38, 39, 6, 0, 19, 18, 14, 9, 7, 2, 1, 23, 5, 24,
	30, 29, 9, 6, 24, 0, 3, 4, 6, 7, 8, 10, 11, 12, 13, 16, 18, 20, 22, 23, 24,
	26, 28, 31, 33, 34, 37, 38, 39, 5, 18, 13, 22, 14, 11, 29, 1, 3, 5, 6, 7, 8,
	9, 12, 13, 14, 15, 17, 18, 19, 21, 22, 23, 24, 25, 27, 29, 30, 31, 33, 34,
	36, 37, 38, 39, 0, 17, 2, 4, 8, 11, 13, 16, 17, 18, 19, 22, 25, 26, 27, 28,
	33, 35, 36, 4, 0, 39, 37, 13, 9, 0, 1, 2, 3, 4, 5, 7, 9, 10, 3, 6, 9, 3, 4,
	7, 8, 9, 10, 2, 8, 6, 4, 2, 4, 6, 7, 11, 0, 9, 2, 8, 5, 1, 3, 10, 7, 4, 6,
	1, 4, 2, 5, 6, 7, 1, 2, 5, 7, 8, 9, 10, 8, 5, 6, 9, 7, 2, 8, 0, 1, 1, 0, 9,
	8, 9, 0, 1, 7, 6, 5, 3, 4, 4, 2, 3, 4, 9, 1, 0, 5, 2, 5, 6, 7, 9, 10, 5, 1,
	10, 3, 0, 7, 8, 4, 2, 9, 10, 0, 1, 2, 3, 4, 5, 6, 7, 9, 10, 4, 5, 2, 7, 8,
	2, 3, 9, 10, 8, 0, 2, 4, 9, 10, 3, 7, 6, 5, 10, 0, 2, 3, 4, 5, 6, 7, 8, 9,
	10, 5, 10, 9, 3, 7, 5, 4, 0, 4, 5, 10, 8, 7, 10, 1, 6, 5, 0, 2, 9, 17, 1, 3,
	4, 8, 10, 11, 12, 13, 14, 15, 16, 17, 18, 20, 21, 22, 23, 6, 19, 22, 7, 10,
	23, 16, 9, 0, 3, 5, 8, 9, 16, 18, 21, 23, 1, 11, 8, 0, 4, 6, 8, 12, 13, 22,
	23, 3, 9, 20, 1, 18, 0, 3, 4, 5, 6, 7, 10, 11, 13, 14, 15, 17, 18, 19, 20,
	21, 22, 23, 1, 2, 17, 0, 2, 5, 7, 10, 11, 12, 13, 14, 15, 16, 17, 18, 20,
	21, 23, 24, 5, 13, 8, 0, 11, 10, 1, 8, 6, 5, 10, 7, 9, 6, 2, 6, 1, 3, 4, 5,
	12, 13, 4, 5, 9, 12, 6, 11, 0, 1, 2, 4, 5, 6, 7, 9, 10, 11, 12, 1, 9, 5, 2,
	8, 9, 12, 13, 5, 12, 11, 0, 7, 13, 4, 0, 9, 10, 11, 4, 3, 5, 13, 0, 4, 4, 6,
	8, 12, 5, 0, 11, 2, 1, 13, 11, 0, 2, 3, 4, 5, 6, 7, 8, 9, 12, 13, 5, 2, 13,
	3, 9, 7, 10, 0, 1, 2, 3, 4, 5, 6, 8, 9, 11, 6, 2, 13, 10, 6, 7, 3, 10, 0, 1,
	2, 3, 6, 7, 10, 11, 12, 13, 0, 11, 1, 2, 3, 4, 6, 7, 8, 9, 11, 12, 13, 0, 3,
	1, 2, 11, 4, 7, 6, 3, 11, 10, 1, 2, 4, 5, 6, 7, 8, 9, 10, 11, 3, 9, 12, 4,
	6, 0, 1, 5, 6, 7, 9, 4, 11, 4, 9, 12, 3, 0, 1, 5, 2, 5, 3, 12, 0, 1, 2, 3,
	4, 5, 8, 9, 10, 11, 12, 13, 0, 12, 0, 3, 7, 8, 19, 20, 24, 30, 33, 46, 47,
	49, 5, 32, 38, 21, 16, 31, 26, 0, 1, 3, 4, 6, 8, 9, 13, 14, 16, 18, 21, 22,
	24, 27, 28, 29, 30, 33, 35, 39, 40, 41, 44, 45, 49, 5, 13, 30, 7, 25, 37,
	16, 2, 5, 8, 10, 16, 19, 21, 23, 27, 28, 30, 35, 39, 40, 41, 43, 2, 2, 11,
	39, 0, 1, 2, 3, 4, 5, 6, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20,
	21, 24, 25, 26, 27, 29, 30, 31, 33, 34, 36, 37, 38, 40, 42, 44, 45, 46, 48,
	2, 12, 16, 8, 1, 2, 6, 11, 16, 20, 30, 37, 2, 20, 16, 12, 0, 1, 2, 5, 7, 12,
	19, 22, 24, 29, 31, 37, 5, 38, 34, 30, 2, 16, 38, 0, 1, 2, 3, 4, 5, 6, 7, 8,
	9, 10, 11, 12, 13, 14, 15, 16, 17, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28,
	29, 30, 31, 32, 33, 34, 35, 36, 37, 38, 4, 17, 3, 10, 34, 33, 1, 2, 3, 4, 5,
	6, 7, 8, 9, 10, 12, 13, 14, 15, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 29,
	30, 31, 32, 33, 34, 35, 36, 37, 0, 4, 1, 13, 19, 30, 3, 28, 6, 36, 23, 1, 2,
	4, 5, 10, 11, 12, 13, 14, 15, 16, 17, 18, 21, 22, 23, 24, 27, 28, 29, 33,
	35, 38, 7, 37, 28, 5, 34, 21, 2, 16, 6, 0, 15, 20, 23, 32, 35, 4, 32, 31,
	37, 33, 33, 0, 1, 2, 4, 5, 6, 7, 8, 9, 10, 12, 13, 14, 15, 16, 18, 19, 20,
	21, 22, 23, 24, 26, 27, 28, 30, 31, 32, 33, 34, 35, 37, 38, 7, 29, 2, 35, 8,
	37, 27, 33, 32, 0, 1, 2, 3, 4, 5, 6, 7, 9, 12, 13, 14, 15, 17, 18, 20, 21,
	22, 23, 24, 25, 26, 27, 28, 29, 31, 32, 33, 35, 36, 37, 38, 3, 0, 34, 27,
	11, 1, 3, 4, 9, 12, 20, 21, 29, 30, 34, 37, 0, 19, 0, 1, 2, 4, 6, 7, 9, 11,
	13, 14, 15, 16, 18, 23, 24, 26, 27, 35, 37, 0, 19, 1, 3, 5, 6, 8, 10, 11,
	12, 15, 16, 17, 19, 22, 27, 28, 33, 35, 36, 37, 2, 31, 36, 12, 0, 5, 6, 8,
	19, 27, 31, 32, 33, 34, 36, 38, 5, 31, 1, 5, 29, 30, 21, 0, 1, 2, 5, 6, 7,
	8, 9, 10, 11, 12, 13, 14, 22, 24, 26, 31, 32, 35, 36, 38, 1, 30, 23, 0, 7,
	9, 10, 12, 14, 15, 16, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 32, 33, 34,
	35, 36, 7, 35, 12, 15, 9, 4, 18, 14, 5, 4, 5, 23, 29, 33, 2, 21, 11, 21, 1,
	5, 6, 7, 8, 9, 10, 11, 14, 15, 16, 22, 23, 25, 26, 30, 31, 32, 33, 34, 36,
	6, 16, 29, 34, 19, 9, 31, 9, 0, 2, 7, 11, 16, 22, 31, 34, 36, 1, 2, 25, 0,
	1, 2, 5, 6, 7, 8, 10, 12, 13, 14, 15, 16, 17, 21, 22, 24, 25, 27, 28, 31,
	32, 33, 35, 36, 3, 9, 25, 4, 2, 19, 32, 2, 32, 25, 25, 0, 2, 3, 4, 6, 7, 8,
	9, 10, 12, 14, 16, 19, 20, 21, 22, 23, 27, 28, 30, 31, 33, 34, 35, 36, 6,
	27, 11, 23, 14, 32, 1, 35, 0, 1, 2, 3, 4, 5, 6, 8, 9, 10, 11, 12, 13, 14,
	15, 16, 17, 18, 19, 20, 21, 23, 24, 25, 26, 27, 28, 29, 30, 31, 32, 33, 34,
	35, 36, 3, 13, 35, 2, 4, 8, 15, 32, 34, 8, 0, 12, 8, 2, 17, 23, 10, 4, 11,
	0, 2, 12, 13, 14, 17, 18, 28, 31, 32, 33, 7, 14, 1, 6, 5, 22, 8, 31, 19, 1,
	4, 5, 6, 10, 11, 14, 15, 16, 17, 19, 20, 22, 23, 27, 28, 29, 32, 36, 5, 15,
	11, 6, 9, 14, 9, 1, 3, 4, 5, 7, 13, 16, 25, 29, 3, 3, 18, 8, 9, 0, 6, 11,
	14, 15, 16, 17, 27, 30, 1, 4, 32, 0, 1, 2, 3, 5, 6, 8, 9, 10, 11, 12, 13,
	14, 15, 17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 31, 32, 33, 35,
	36, 6, 18, 15, 24, 17, 9, 33, 4, 0, 2, 22, 23, 0, 18, 0, 1, 4, 5, 6, 9, 10,
	15, 17, 21, 23, 24, 25, 26, 27, 34, 40, 41, 3, 15, 28, 9, 28, 0, 2, 3, 4, 6,
	7, 8, 10, 11, 12, 14, 15, 16, 18, 19, 20, 21, 22, 25, 29, 30, 32, 33, 34,
	36, 39, 40, 41, 4, 3, 13, 11, 0, 31, 0, 1, 3, 4, 5, 8, 9, 11, 13, 15, 18,
	19, 20, 23, 24, 25, 26, 27, 28, 29, 30, 31, 32, 33, 34, 35, 36, 37, 38, 39,
	40, 1, 13, 41, 0, 1, 2, 3, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17,
	18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 31, 32, 33, 34, 35, 36,
	37, 38, 39, 40, 41, 2, 22, 30, 3, 10, 24, 37, 4, 29, 5, 13, 22, 25, 0, 2, 4,
	5, 6, 8, 12, 13, 14, 16, 18, 19, 20, 22, 24, 26, 27, 28, 29, 32, 36, 37, 38,
	39, 40, 1, 19, 20, 0, 2, 3, 5, 6, 9, 15, 16, 17, 18, 21, 22, 23, 28, 31, 32,
	35, 36, 38, 40, 0, 22, 1, 2, 3, 9, 12, 13, 14, 15, 17, 18, 19, 20, 22, 23,
	24, 27, 30, 31, 33, 37, 39, 41, 0, 25, 0, 1, 3, 6, 7, 8, 9, 11, 13, 16, 18,
	19, 20, 22, 23, 24, 26, 28, 30, 32, 33, 35, 37, 39, 40, 2, 33, 3, 22, 0, 1,
	4, 5, 6, 8, 9, 10, 14, 15, 16, 19, 20, 24, 27, 28, 29, 30, 32, 37, 38, 39,
	1, 18, 16, 0, 2, 4, 5, 8, 11, 13, 14, 15, 16, 22, 25, 33, 34, 36, 40, 2, 21,
	8, 18, 0, 2, 4, 5, 7, 8, 9, 10, 14, 16, 17, 18, 19, 20, 21, 22, 23, 24, 1,
	6, 17, 0, 1, 2, 3, 4, 5, 6, 11, 12, 14, 17, 19, 20, 21, 22, 23, 24, 0, 23,
	1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 15, 16, 17, 18, 19, 20, 21, 22,
	23, 24, 0, 17, 0, 1, 4, 5, 6, 8, 9, 11, 13, 14, 15, 16, 17, 18, 20, 21, 23,
	1, 8, 14, 0, 1, 3, 6, 7, 11, 12, 15, 16, 17, 18, 19, 21, 24, 0, 4, 2, 4, 6,
	14, 1, 10, 22, 0, 1, 2, 3, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 19,
	20, 21, 22, 23, 24, 1, 16, 2, 6, 7, 0, 24, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10,
	11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 1, 21, 13, 2, 5, 7,
	9, 10, 11, 12, 13, 16, 17, 18, 20, 21, 0, 8, 5, 6, 7, 8, 9, 11, 13, 14, 1,
	12, 20, 0, 1, 3, 4, 5, 6, 7, 8, 10, 11, 12, 13, 15, 17, 19, 20, 21, 22, 23,
	24, 1, 23, 2, 9, 12, 0, 21, 0, 1, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14,
	15, 16, 19, 21, 22, 23, 24, 0, 15, 0, 5, 7, 8, 10, 11, 12, 14, 16, 17, 18,
	20, 22, 23, 24, 0, 3, 5, 6, 23, 1, 3, 17, 0, 1, 3, 5, 6, 7, 8, 10, 11, 14,
	16, 17, 18, 20, 21, 22, 24, 0, 23, 0, 1, 2, 3, 5, 6, 7, 8, 9, 11, 12, 13,
	14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 0, 14, 0, 1, 2, 4, 6, 9, 10, 12,
	13, 14, 15, 20, 21, 24, 0, 14, 1, 3, 4, 6, 7, 8, 9, 11, 12, 13, 16, 19, 20,
	23, 1, 10, 13, 2, 5, 6, 7, 9, 10, 12, 16, 18, 19, 20, 21, 24, 1, 5, 13, 0,
	1, 4, 7, 9, 11, 14, 18, 19, 20, 22, 23, 24, 1, 19, 16, 0, 2, 3, 4, 5, 6, 10,
	11, 12, 13, 16, 17, 19, 20, 23, 24, 1, 18, 5, 3, 7, 12, 15, 19, 1, 19, 7, 0,
	7, 9, 10, 12, 13, 20, 0, 6, 7, 9, 10, 11, 13, 17, 8, 2, 1, 7, 0, 14, 17, 6,
	11, 10, 0, 3, 6, 7, 9, 12, 13, 14, 16, 19, 3, 5, 4, 7, 14, 0, 1, 4, 5, 6, 7,
	8, 9, 13, 14, 15, 16, 17, 19, 3, 5, 9, 18, 6, 1, 2, 10, 11, 15, 18, 0, 18,
	0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 16, 17, 19, 2, 3, 9, 10,
	2, 3, 5, 8, 12, 13, 15, 16, 18, 19, 3, 15, 12, 19, 15, 0, 1, 2, 4, 6, 7, 8,
	10, 11, 12, 13, 14, 15, 16, 18, 0, 5, 0, 4, 5, 6, 18, 4, 10, 15, 6, 3, 19,
	0, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 0, 10, 2,
	7, 9, 10, 11, 13, 15, 16, 18, 19, 9, 0, 5, 13, 6, 18, 16, 2, 9, 3, 17, 0, 1,
	3, 4, 5, 6, 7, 8, 9, 10, 12, 13, 14, 16, 17, 18, 19, 8, 11, 18, 17, 13, 0,
	1, 10, 14, 18, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 18,
	19, 6, 15, 13, 18, 6, 3, 4, 13, 1, 3, 4, 5, 6, 7, 8, 10, 11, 13, 14, 16, 19,
	4, 8, 14, 9, 18, 10, 0, 2, 7, 8, 11, 13, 14, 15, 17, 18, 3, 18, 8, 4, 3, 2,
	5, 7, 7, 4, 7, 3, 14, 13, 0, 8, 11, 1, 2, 4, 5, 6, 7, 8, 10, 13, 16, 19, 4,
	14, 15, 18, 19, 14, 0, 1, 3, 4, 5, 8, 9, 10, 11, 13, 14, 16, 18, 19, 0,
};
static const selftest_trial selftest_trials[] = {
	{25, 6, 0, 0.23999999999999999, 0.075264350205788408, 0.26349419376619326, 0.2038888888888889},
	{12, 11, 576, 0.23484848484848486, 0.55661375661375667, 0.43902533075477074, 0.29247214205547539},
	{5, 6, 734, 0.26666666666666666, 0.094117647058823528, 0.24947727180966678, 0.18277777777777776},
	{15, 7, 829, 0.18095238095238092, 0.19080808080808082, 0.26026054882857491, 0.16489682539682537},
	{4, 6, 1015, 0.20833333333333331, 0.047676282051282048, 0.32241224321357742, 0.20833333333333331},
	{14, 7, 1130, 0.24489795918367346, 0.091876492119627132, 0.27880966732992235, 0.19188532555879495},
	{14, 8, 1472, 0.2857142857142857, 0.15754632145487002, 0.40077055601236655, 0.27961309523809524},
	{12, 4, 1789, 0.25, 0.040149376714581277, 0.30330792103650162, 0.22048611111111108},
	{25, 1, 2088, 0.28000000000000003, 0.021991635815165229, 0.28000000000000003, 0.28000000000000003},
	{17, 11, 2496, 0.19251336898395721, 0.19865616889838342, 0.26918644239176864, 0.16335794924030217},
};

static void
test_hand_examples(void)
{
	kp_rank_metrics m;
	double		d2 = 1.0 / log2(3.0);
	double		d3 = 1.0 / log2(4.0);

	/* recbench.py self_test: relevant {0, 2}, recs 0, 1, 2, k = 3 */
	{
		int64_t		recs[] = {0, 1, 2};
		int64_t		relevant[] = {0, 2};

		kp_rank_metrics_user(recs, 3, 3, relevant, 2, &m);
		unit_ok(m.hits == 2 && fabs(m.precision - 2.0 / 3) < 1e-12 &&
				fabs(m.recall - 1.0) < 1e-12 &&
				fabs(m.ndcg - (1 + d3) / (1 + d2)) < 1e-12 &&
				fabs(m.average_precision - (1 + 2.0 / 3) / 2) < 1e-12,
				"recbench.py's hand example: P 2/3, R 1, NDCG (1 + 1/log2 4)/(1 + 1/log2 3), AP 5/6");
	}

	/*
	 * relevant {7, 9, 11, 13, 15} (one of them unknown to any model), k = 4,
	 * recs 9, 1, 13: hits at ranks 1 and 3, one slot short.
	 * P = 2/4, R = 2/5, NDCG = (1 + 1/2) / (1 + 1/log2 3 + 1/2 + 1/log2 5),
	 * AP = (1/1 + 2/3) / min(5, 4).
	 */
	{
		int64_t		recs[] = {9, 1, 13};
		int64_t		relevant[] = {15, 7, 13, 11, 9};	/* any order */
		double		idcg = 1 + d2 + 0.5 + 1.0 / log2(5.0);

		kp_rank_metrics_user(recs, 3, 4, relevant, 5, &m);
		unit_ok(m.hits == 2 && metrics_close(&m, 0.5, 0.4, 1.5 / idcg, (1 + 2.0 / 3) / 4, 1e-12),
				"fewer recs than k, unsorted relevant: P 1/2, R 2/5, NDCG, AP by hand");
	}

	/* only the first k recs count: the hit at rank 3 is past k = 2 */
	{
		int64_t		recs[] = {1, 2, 3};
		int64_t		relevant[] = {3};

		kp_rank_metrics_user(recs, 3, 2, relevant, 1, &m);
		unit_ok(m.hits == 0 && metrics_close(&m, 0, 0, 0, 0, 0),
				"a hit beyond k counts for nothing");
	}

	/*
	 * A repeated rec counts once at its best rank and the next ones move up,
	 * as recbench.py --score-recs reads recs: 5, 5, 6, 7 with k = 2 is 5, 6.
	 */
	{
		int64_t		recs[] = {5, 5, 6, 7};
		int64_t		relevant[] = {5, 6, 7};

		kp_rank_metrics_user(recs, 4, 2, relevant, 3, &m);
		unit_ok(m.hits == 2 && metrics_close(&m, 1.0, 2.0 / 3, 1.0, 1.0, 1e-12),
				"repeated rec: counted once, later recs move up (P 1, R 2/3, NDCG 1, AP 1)");
	}
	{
		int64_t		recs[] = {8, 4, 8, 9};
		int64_t		relevant[] = {9, 8};

		/* counted list 8, 4, 9: hits at 1 and 3 */
		kp_rank_metrics_user(recs, 4, 3, relevant, 2, &m);
		unit_ok(m.hits == 2 &&
				metrics_close(&m, 2.0 / 3, 1.0, (1 + d3) / (1 + d2), (1 + 2.0 / 3) / 2, 1e-12),
				"repeated hit not counted twice; the hit after it moves to rank 3");
	}

	/* every relevant item found, in the ideal order: NDCG and AP 1 */
	{
		int64_t		recs[] = {3, 1, 2, 40};
		int64_t		relevant[] = {1, 2, 3};

		kp_rank_metrics_user(recs, 4, 10, relevant, 3, &m);
		unit_ok(m.hits == 3 && metrics_close(&m, 0.3, 1.0, 1.0, 1.0, 1e-12),
				"all relevant first with k = 10: P 0.3 (divides by k), R 1, NDCG 1, AP 1");
	}

	/* no recs at all, ids negative and large */
	{
		int64_t		relevant[] = {-5, INT64_MAX};
		int64_t		recs[] = {INT64_MAX, -5};

		kp_rank_metrics_user(NULL, 0, 10, relevant, 2, &m);
		unit_ok(m.hits == 0 && metrics_close(&m, 0, 0, 0, 0, 0), "no recs: all zero");
		kp_rank_metrics_user(recs, 2, 10, relevant, 2, &m);
		unit_ok(m.hits == 2 && metrics_close(&m, 0.2, 1, 1, 1, 1e-12),
				"any int64 is an id: negative and INT64_MAX");
	}

	/* users the protocol does not evaluate, and k < 1 */
	{
		int64_t		recs[] = {1, 2};
		int64_t		relevant[] = {1};

		kp_rank_metrics_user(recs, 2, 10, relevant, 0, &m);
		unit_ok(m.hits == 0 && metrics_close(&m, 0, 0, 0, 0, 0),
				"no relevant items: all zero");
		kp_rank_metrics_user(recs, 2, 0, relevant, 1, &m);
		unit_ok(m.hits == 0 && metrics_close(&m, 0, 0, 0, 0, 0), "k = 0: all zero");
	}
}

/* The trials of recbench.py's self-test give recbench.py's means. */
static void
test_recbench_trials(void)
{
	size_t		n_trials = sizeof(selftest_trials) / sizeof(selftest_trials[0]);
	size_t		t;

	for (t = 0; t < n_trials; t++)
	{
		const selftest_trial *trial = &selftest_trials[t];
		const int64_t *p = selftest_data + trial->offset;
		double		sum[4] = {0, 0, 0, 0};
		double		sum_shuffled[4] = {0, 0, 0, 0};
		int32_t		u;

		for (u = 0; u < trial->n_users; u++)
		{
			int32_t		n_relevant = (int32_t) p[0];
			const int64_t *relevant = p + 1;
			int32_t		n_recs = (int32_t) p[1 + n_relevant];
			const int64_t *recs = p + 2 + n_relevant;
			int64_t		reversed[64];
			kp_rank_metrics m;
			int32_t		k;

			kp_rank_metrics_user(recs, n_recs, trial->k, relevant, n_relevant, &m);
			sum[0] += m.precision;
			sum[1] += m.recall;
			sum[2] += m.ndcg;
			sum[3] += m.average_precision;

			/* the same in the other order: the linear-scan path */
			for (k = 0; k < n_relevant; k++)
				reversed[k] = relevant[n_relevant - 1 - k];
			kp_rank_metrics_user(recs, n_recs, trial->k, reversed, n_relevant, &m);
			sum_shuffled[0] += m.precision;
			sum_shuffled[1] += m.recall;
			sum_shuffled[2] += m.ndcg;
			sum_shuffled[3] += m.average_precision;
			p += 2 + n_relevant + n_recs;
		}
		unit_ok(fabs(sum[0] / trial->n_users - trial->precision) < 1e-12 &&
				fabs(sum[1] / trial->n_users - trial->recall) < 1e-12 &&
				fabs(sum[2] / trial->n_users - trial->ndcg) < 1e-12 &&
				fabs(sum[3] / trial->n_users - trial->map) < 1e-12,
				"recbench.py self-test trial %zu (%d users, k = %d): same P, R, NDCG, MAP",
				t, trial->n_users, trial->k);
		unit_ok(memcmp(sum, sum_shuffled, sizeof(sum)) == 0,
				"trial %zu: relevant ids in descending order give the same bits", t);
	}
}

/*
 * recbench.py's ranking_metrics_reference for one user, on recs that are
 * already distinct, with relevant as a membership table.
 */
static void
reference_user(const int64_t *recs, int32_t n_recs, int32_t k,
			   const unsigned char *is_relevant, int32_t n_relevant, double out[4])
{
	int32_t		hits = 0;
	double		dcg = 0;
	double		ap = 0;
	double		idcg = 0;
	int32_t		r;

	for (r = 1; r <= n_recs && r <= k; r++)
	{
		if (is_relevant[recs[r - 1]])
		{
			hits++;
			dcg += 1.0 / log2(r + 1.0);
			ap += (double) hits / r;
		}
	}
	for (r = 1; r <= (n_relevant < k ? n_relevant : k); r++)
		idcg += 1.0 / log2(r + 1.0);
	out[0] = (double) hits / k;
	out[1] = (double) hits / n_relevant;
	out[2] = dcg / idcg;
	out[3] = ap / (n_relevant < k ? n_relevant : k);
}

/*
 * Random cases shaped like recbench.py's self-test, plus repeats in the
 * recs: the repeats are dropped first for the reference.
 */
static void
test_random_against_reference(void)
{
	int			trial;
	int			failures = 0;
	int			sorted_failures = 0;

	for (trial = 0; trial < 2000; trial++)
	{
		int32_t		n_items = 5 + rng_below(55);
		int32_t		k = 1 + rng_below(12);
		int32_t		n_relevant = 1 + rng_below(n_items - 1);
		int32_t		n_recs = rng_below(2 * k + 1);
		unsigned char is_relevant[64] = {0};
		int64_t		relevant[64];
		int64_t		sorted[64];
		int64_t		recs[32];
		int64_t		distinct[32];
		int32_t		n_distinct = 0;
		int32_t		n_chosen = 0;
		double		expected[4];
		kp_rank_metrics m;
		kp_rank_metrics m_sorted;
		int32_t		i;

		while (n_chosen < n_relevant)
		{
			int32_t		item = rng_below(n_items);

			if (!is_relevant[item])
			{
				is_relevant[item] = 1;
				relevant[n_chosen++] = item;
			}
		}
		for (i = 0; i < n_recs; i++)
		{
			int32_t		s;
			int			seen = 0;

			/* about one rec in six repeats an earlier one */
			recs[i] = i > 0 && rng_below(6) == 0 ? recs[rng_below(i)] : rng_below(n_items);
			for (s = 0; s < n_distinct; s++)
				seen |= distinct[s] == recs[i];
			if (!seen)
				distinct[n_distinct++] = recs[i];
		}
		reference_user(distinct, n_distinct, k, is_relevant, n_relevant, expected);
		kp_rank_metrics_user(recs, n_recs, k, relevant, n_relevant, &m);
		if (!metrics_close(&m, expected[0], expected[1], expected[2], expected[3], 1e-12))
			failures++;

		memcpy(sorted, relevant, (size_t) n_relevant * sizeof(int64_t));
		if (kp_sort_unique_ids(sorted, n_relevant) != n_relevant)
			sorted_failures++;
		kp_rank_metrics_user(recs, n_recs, k, sorted, n_relevant, &m_sorted);
		if (m.hits != m_sorted.hits || m.precision != m_sorted.precision ||
			m.recall != m_sorted.recall || m.ndcg != m_sorted.ndcg ||
			m.average_precision != m_sorted.average_precision)
			sorted_failures++;
	}
	unit_ok(failures == 0, "2000 random users with repeated recs match recbench.py's reference (%d off)",
			failures);
	unit_ok(sorted_failures == 0, "sorted relevant ids (binary search) give the same values (%d off)",
			sorted_failures);
}

static void
test_sort_unique(void)
{
	int64_t		ids[] = {5, -3, 5, INT64_MIN, 9, -3, 5, INT64_MAX};
	int64_t		expected[] = {INT64_MIN, -3, 5, 9, INT64_MAX};
	int32_t		n = kp_sort_unique_ids(ids, 8);

	unit_ok(n == 5 && memcmp(ids, expected, sizeof(expected)) == 0,
			"kp_sort_unique_ids sorts and drops repeats");
	unit_ok(kp_sort_unique_ids(NULL, 0) == 0, "kp_sort_unique_ids of nothing");
}

static void
test_diversity(void)
{
	/* rows: e1, e2, e1 + e2, −e1, 0, 2·e1 */
	float		vectors[] = {
		1, 0,
		0, 1,
		1, 1,
		-1, 0,
		0, 0,
		2, 0
	};
	int32_t		orthogonal[] = {0, 1};
	int32_t		three[] = {0, 1, 2};
	int32_t		opposite[] = {0, 3};
	int32_t		with_zero[] = {0, 4};
	int32_t		same_direction[] = {0, 5, 0};
	double		c45 = 1.0 - 1.0 / sqrt(2.0);

	unit_ok(unit_close(kp_intra_list_diversity(vectors, 2, orthogonal, 2, NULL, NULL), 1.0, 1e-12),
			"orthogonal pair: diversity 1");
	unit_ok(unit_close(kp_intra_list_diversity(vectors, 2, three, 3, NULL, NULL), (1.0 + 2 * c45) / 3, 1e-12),
			"e1, e2, e1+e2: (1 + 2(1 − 1/√2)) / 3");
	unit_ok(unit_close(kp_intra_list_diversity(vectors, 2, opposite, 2, NULL, NULL), 2.0, 1e-12),
			"opposite pair: diversity 2");
	unit_ok(unit_close(kp_intra_list_diversity(vectors, 2, with_zero, 2, NULL, NULL), 1.0, 1e-12),
			"a zero vector: cosine 0, diversity 1");
	unit_ok(kp_intra_list_diversity(vectors, 2, same_direction, 3, NULL, NULL) == 0.0,
			"same direction (scaled, repeated): diversity exactly 0");
	unit_ok(kp_intra_list_diversity(vectors, 2, three, 1, NULL, NULL) == 0.0 &&
			kp_intra_list_diversity(vectors, 2, three, 0, NULL, NULL) == 0.0,
			"fewer than two items: 0");
}

static int
count_checks(void *arg)
{
	++*(int *) arg;
	return 0;
}

static int
stop_at_third_check(void *arg)
{
	return ++*(int *) arg >= 3;
}

/* 200 listed items: a check before items 0, 64, 128 and 192. */
static void
test_diversity_interrupt(void)
{
	float	   *vectors = malloc(sizeof(float) * 200 * 3);
	int32_t		rows[200];
	int			calls = 0;
	int			i;
	double		plain;

	for (i = 0; i < 200; i++)
	{
		vectors[i * 3] = (float) (i % 7) - 3.0f;
		vectors[i * 3 + 1] = (float) (i % 5);
		vectors[i * 3 + 2] = 1.0f;
		rows[i] = 199 - i;
	}
	plain = kp_intra_list_diversity(vectors, 3, rows, 200, NULL, NULL);
	unit_ok(kp_intra_list_diversity(vectors, 3, rows, 200, count_checks, &calls) == plain &&
			calls == 4, "diversity of 200 items: 4 interrupt checks, same value");
	calls = 0;
	unit_ok(isnan(kp_intra_list_diversity(vectors, 3, rows, 200, stop_at_third_check, &calls)) &&
			calls == 3, "diversity cancelled at the third check: NaN");
	free(vectors);
}

int
main(void)
{
	test_hand_examples();
	test_recbench_trials();
	test_random_against_reference();
	test_sort_unique();
	test_diversity();
	test_diversity_interrupt();
	return unit_done();
}
