/*
 * test_topk.c -- heap selection against a full sort.
 */
#include <stdint.h>
#include <string.h>

#include "kp_topk.h"
#include "unit.h"

static uint64_t rng_state = 4242;

static uint64_t
rng_next(void)
{
	uint64_t	z = (rng_state += UINT64_C(0x9e3779b97f4a7c15));

	z = (z ^ (z >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
	z = (z ^ (z >> 27)) * UINT64_C(0x94d049bb133111eb);
	return z ^ (z >> 31);
}

static const float *sort_scores;

/* Best first: higher score, then lower index. */
static int
cmp_rank(const void *a, const void *b)
{
	int32_t		x = *(const int32_t *) a;
	int32_t		y = *(const int32_t *) b;

	if (sort_scores[x] != sort_scores[y])
		return sort_scores[x] > sort_scores[y] ? -1 : 1;
	return (x > y) - (x < y);
}

/* kp_topk agrees with sorting every selectable entry. */
static int
matches_full_sort(const float *scores, int32_t n, int32_t k)
{
	int32_t    *all = malloc(((size_t) n + 1) * sizeof(int32_t));
	int32_t    *got = malloc(((size_t) k + 1) * sizeof(int32_t));
	float	   *got_score = malloc(((size_t) k + 1) * sizeof(float));
	int32_t		selectable = 0;
	int32_t		expected;
	int32_t		written;
	int32_t		i;
	int			ok;

	for (i = 0; i < n; i++)
		if (!isnan(scores[i]) && scores[i] != -INFINITY)
			all[selectable++] = i;
	sort_scores = scores;
	qsort(all, (size_t) selectable, sizeof(int32_t), cmp_rank);
	expected = selectable < k ? selectable : k;

	written = kp_topk(scores, n, k, got, got_score);
	ok = written == expected;
	for (i = 0; ok && i < written; i++)
		ok = got[i] == all[i] && got_score[i] == scores[all[i]];
	free(all);
	free(got);
	free(got_score);
	return ok;
}

/* Scores from a small set of values (many ties) plus NaN, -inf and +inf. */
static void
fill_scores(float *scores, int32_t n, int distinct)
{
	int32_t		i;

	for (i = 0; i < n; i++)
	{
		uint64_t	r = rng_next();

		switch (r % 16)
		{
			case 0:
				scores[i] = NAN;
				break;
			case 1:
				scores[i] = -INFINITY;
				break;
			case 2:
				scores[i] = r % 64 == 2 ? INFINITY : -1e30f;
				break;
			default:
				scores[i] = (float) ((r >> 8) % (uint64_t) distinct) - distinct / 2.0f;
		}
	}
}

static int
stop_at_check(void *arg)
{
	int		   *calls_left = arg;

	return --*calls_left <= 0;
}

/*
 * 200,000 scores, k = all of them: the fill pass checks at entries 0,
 * 65536, 131072 and 196608, the heapsort at positions 131072 and 65536
 * (about 7/8 of the scores are selectable).  Each check stops the selection
 * when asked; without a callback the result is kp_topk's.
 */
static void
test_interruptible(float *scores)
{
	int32_t		n = 200000;
	int32_t    *index = malloc(sizeof(int32_t) * n);
	float	   *value = malloc(sizeof(float) * n);
	int32_t    *plain_index = malloc(sizeof(int32_t) * n);
	float	   *plain_value = malloc(sizeof(float) * n);
	int32_t		plain;
	int			never = 1000;
	int			stops_ok = 1;
	int			stop;

	fill_scores(scores, n, 1000);
	plain = kp_topk(scores, n, n, plain_index, plain_value);
	unit_ok(kp_topk_interruptible(scores, n, n, index, value, NULL, NULL) == plain &&
			memcmp(index, plain_index, sizeof(int32_t) * plain) == 0 &&
			memcmp(value, plain_value, sizeof(float) * plain) == 0,
			"kp_topk_interruptible without a callback is kp_topk");
	unit_ok(plain > 131072 && plain < 196608 &&
			kp_topk_interruptible(scores, n, n, index, value, stop_at_check, &never) == plain &&
			never == 1000 - 6 && memcmp(index, plain_index, sizeof(int32_t) * plain) == 0,
			"a callback that never stops: 6 checks, the same selection");
	for (stop = 1; stop <= 6; stop++)
	{
		int			calls_left = stop;

		stops_ok &= kp_topk_interruptible(scores, n, n, index, value, stop_at_check, &calls_left) == -1 &&
			calls_left == 0;
	}
	unit_ok(stops_ok, "selecting all of 200,000 stops at each of its 6 checks when asked");
	free(index);
	free(value);
	free(plain_index);
	free(plain_value);
}

static const int32_t *sort_labels;

/* Best first: higher score, then lower label. */
static int
cmp_labelled(const void *a, const void *b)
{
	int32_t		x = *(const int32_t *) a;
	int32_t		y = *(const int32_t *) b;

	if (sort_scores[x] != sort_scores[y])
		return sort_scores[x] > sort_scores[y] ? -1 : 1;
	return sort_labels[x] < sort_labels[y] ? -1 : (sort_labels[x] > sort_labels[y]);
}

/*
 * Entries labelled by a shuffled permutation, scores with many ties, NaN
 * and -inf: the labels of the full sort by (score, label).
 */
static void
test_labelled(void)
{
	int32_t		n = 2000;
	float	   *scores = malloc(sizeof(float) * n);
	int32_t    *labels = malloc(sizeof(int32_t) * n);
	int32_t    *order = malloc(sizeof(int32_t) * n);
	int32_t    *got = malloc(sizeof(int32_t) * n);
	float	   *got_score = malloc(sizeof(float) * n);
	int32_t		ks[] = {1, 10, 50, 1999, 2000, 5000};
	int32_t		i;
	int			c;

	for (i = 0; i < n; i++)
	{
		labels[i] = i * 7;
		scores[i] = (float) (rng_next() % 40);
		if (i % 97 == 0)
			scores[i] = NAN;
		if (i % 89 == 0)
			scores[i] = -INFINITY;
	}
	for (i = n - 1; i > 0; i--)
	{
		int32_t		j = (int32_t) (rng_next() % (uint64_t) (i + 1));
		int32_t		t = labels[i];

		labels[i] = labels[j];
		labels[j] = t;
	}
	for (c = 0; c < (int) (sizeof(ks) / sizeof(ks[0])); c++)
	{
		int32_t		k = ks[c];
		int32_t		m = 0;
		int32_t		count = kp_topk_labelled(scores, labels, n, k, got, got_score, NULL, NULL);
		int			same;

		for (i = 0; i < n; i++)
			if (!isnan(scores[i]) && scores[i] != -INFINITY)
				order[m++] = i;
		sort_scores = scores;
		sort_labels = labels;
		qsort(order, m, sizeof(int32_t), cmp_labelled);
		if (m > k)
			m = k;
		same = count == m;
		for (i = 0; same && i < m; i++)
			same = got[i] == labels[order[i]] && got_score[i] == scores[order[i]];
		unit_ok(same, "labelled, k = %d: the %d best, ties to the lower label", k, count);
	}
	unit_ok(kp_topk_labelled(scores, NULL, n, 10, got, got_score, NULL, NULL) == 10 &&
			kp_topk(scores, n, 10, order, got_score) == 10 &&
			memcmp(got, order, sizeof(int32_t) * 10) == 0,
			"without labels, the labels are the indices");
	free(scores);
	free(labels);
	free(order);
	free(got);
	free(got_score);
}

int
main(void)
{
	int32_t		sizes[] = {1, 2, 7, 100, 1000, 20000};
	int32_t		ks[] = {1, 3, 10, 64};
	int			distincts[] = {2, 50, 1000000};
	float	   *scores = malloc(200000 * sizeof(float));
	int32_t		index[16];
	float		value[16];
	int			ok = 1;
	size_t		s;
	size_t		j;
	size_t		d;
	int			trial;

	for (s = 0; s < sizeof(sizes) / sizeof(sizes[0]); s++)
		for (d = 0; d < sizeof(distincts) / sizeof(distincts[0]); d++)
			for (trial = 0; trial < 3; trial++)
			{
				fill_scores(scores, sizes[s], distincts[d]);
				for (j = 0; j < sizeof(ks) / sizeof(ks[0]); j++)
					ok &= matches_full_sort(scores, sizes[s], ks[j]);
				ok &= matches_full_sort(scores, sizes[s], sizes[s]);
				ok &= matches_full_sort(scores, sizes[s], sizes[s] + 5);
			}
	unit_ok(ok, "random scores with ties, NaN and +/-inf match a full sort for every k");

	/* ascending scores: every entry replaces the root, the slow path */
	for (trial = 0; trial < 20000; trial++)
		scores[trial] = (float) trial;
	unit_ok(matches_full_sort(scores, 20000, 10), "ascending input");
	for (trial = 0; trial < 20000; trial++)
		scores[trial] = 1.0f;
	unit_ok(matches_full_sort(scores, 20000, 10) &&
			kp_topk(scores, 20000, 3, index, value) == 3 &&
			index[0] == 0 && index[1] == 1 && index[2] == 2,
			"all ties: the lowest indices win, in index order");

	unit_ok(kp_topk(scores, 100, 0, index, value) == 0, "k = 0 selects nothing");
	unit_ok(kp_topk(scores, 0, 5, index, value) == 0, "n = 0 selects nothing");
	scores[0] = NAN;
	scores[1] = -INFINITY;
	scores[2] = NAN;
	unit_ok(kp_topk(scores, 3, 5, index, value) == 0, "only NaN and -inf: nothing selectable");
	scores[1] = -3.0f;
	unit_ok(kp_topk(scores, 3, 5, index, value) == 1 && index[0] == 1 && value[0] == -3.0f,
			"k > n returns just the selectable entries");

	test_interruptible(scores);
	free(scores);
	test_labelled();
	return unit_done();
}
