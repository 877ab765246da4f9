-- The algorithms of option "algorithm" (ials, bpr, als, ease, popular, auto),
-- through kpreco.train() and kpreco.train_agg, served by recommend,
-- similar_courses and predict; their effective options; event weights and
-- time decay; kpreco.split(); determinism.
BEGIN;
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS pgtap;
CREATE EXTENSION IF NOT EXISTS kpreco;
SELECT plan(150);

-- 30 users, 15 courses, weights 1 to 3.
CREATE TEMP TABLE alg_rows AS
SELECT u AS user_id, 100 + c AS course_id, (1 + (u + c) % 3)::real AS w
  FROM generate_series(1::bigint, 30) u, generate_series(1::bigint, 15) c
 WHERE (u * 3 + c * 7) % 4 < 2 OR c = u % 15 + 1;
-- Ratings 1 to 5 of the same users and courses.
CREATE TEMP TABLE alg_ratings AS
SELECT u AS user_id, 100 + c AS course_id,
	   least(5, greatest(1, 1 + (u % 5) * (c % 4) / 3 + c % 2))::real AS rating
  FROM generate_series(1::bigint, 30) u, generate_series(1::bigint, 15) c WHERE (u + c) % 3 <> 0;
-- The same rows in another order.
CREATE TEMP TABLE alg_rows_shuffled AS SELECT * FROM alg_rows ORDER BY md5(user_id || ':' || course_id);
CREATE TEMP TABLE alg_ratings_shuffled AS SELECT * FROM alg_ratings ORDER BY md5(user_id || ':' || course_id);

-- Options of each algorithm for these tests.
CREATE TEMP TABLE alg_options (algorithm text PRIMARY KEY, source text, options jsonb);
INSERT INTO alg_options VALUES
	('ials', 'alg_rows', '{"factors": 4, "iterations": 6, "weight_column": "w", "seed": 3}'),
	('bpr', 'alg_rows', '{"algorithm": "bpr", "factors": 4, "epochs": 30, "learning_rate": 0.05, "weight_column": "w", "seed": 3}'),
	('als', 'alg_ratings', '{"algorithm": "als", "factors": 4, "iterations": 10, "weight_column": "rating", "seed": 3}'),
	('ease', 'alg_rows', '{"algorithm": "ease", "weight_column": "w"}'),
	('popular', 'alg_rows', '{"algorithm": "popular", "weight_column": "w"}');

-- The md5 of the bytes of a model after its 64-byte header: equal bodies
-- mean equal training results.
CREATE FUNCTION pg_temp.body(m kpreco.model) RETURNS text LANGUAGE sql AS $$
SELECT md5(substring(m::bytea FROM 65))
$$;
CREATE FUNCTION pg_temp.stored_body(model_name text) RETURNS text LANGUAGE sql AS $$
SELECT pg_temp.body(v.model) FROM kpreco.model_versions v JOIN kpreco.model_registry r
	ON r.name = v.name AND r.active_version = v.version WHERE v.name = model_name
$$;
-- train_agg over a source with options as kpreco.train reads them.
CREATE FUNCTION pg_temp.agg(source text, options jsonb) RETURNS kpreco.model LANGUAGE plpgsql AS $$
DECLARE
	result kpreco.model;
BEGIN
	EXECUTE format('SELECT kpreco.train_agg(user_id, course_id, %s, $1) FROM %s',
				   coalesce(quote_ident(options ->> 'weight_column'), 'NULL'), source)
		INTO result USING options;
	RETURN result;
END
$$;
-- Every user's recommendations (all of them), as text lines.
CREATE FUNCTION pg_temp.served(model text) RETURNS SETOF text LANGUAGE sql AS $$
SELECT format('%s:%s:%s:%s', u, r.rank, r.course_id, r.score)
  FROM generate_series(1, 31) u, LATERAL kpreco.recommend(u, 100, model) r
$$;

-- Each algorithm trains through train() and train_agg ---------------------------

SELECT lives_ok(format('SELECT kpreco.train(%L, %L, %L)', 'alg_' || algorithm, source, options),
	algorithm || ' trains through kpreco.train()')
  FROM alg_options ORDER BY algorithm;
SELECT is((SELECT array_agg(algorithm || '=' || (SELECT m.algorithm FROM kpreco.models m WHERE m.name = 'alg_' || o.algorithm AND m.active)
						ORDER BY algorithm) FROM alg_options o),
	(SELECT array_agg(algorithm || '=' || algorithm ORDER BY algorithm) FROM alg_options),
	'kpreco.models names the algorithm of each');
SELECT is(pg_temp.body(pg_temp.agg(source, options)), pg_temp.stored_body('alg_' || algorithm),
	algorithm || ': train_agg trains the same model as train()')
  FROM alg_options ORDER BY algorithm;
SELECT is(kpreco.model_info(pg_temp.agg(source, options)) ->> 'algorithm', algorithm,
	algorithm || ': model_info of the train_agg result names it')
  FROM alg_options ORDER BY algorithm;

-- Serving every algorithm --------------------------------------------------------

SELECT ok((SELECT count(*) = 5 AND bool_and(NOT EXISTS (SELECT 1 FROM alg_rows t WHERE t.user_id = 1 AND t.course_id = r.course_id))
				  AND array_agg(rank ORDER BY rank) = ARRAY[1, 2, 3, 4, 5]
			 FROM kpreco.recommend(1, 5, 'alg_' || algorithm) r),
	algorithm || ': recommend gives 5 courses the user did not take, ranked 1 to 5')
  FROM alg_options WHERE source = 'alg_rows' ORDER BY algorithm;
SELECT ok((SELECT count(*) = 5 AND bool_and(NOT EXISTS (SELECT 1 FROM alg_ratings t WHERE t.user_id = 1 AND t.course_id = r.course_id))
			 FROM kpreco.recommend(1, 5, 'alg_als') r),
	'als: recommend gives 5 courses the user did not rate');
SELECT ok((SELECT bool_and(abs(r.score - kpreco.predict(u, r.course_id, 'alg_' || algorithm)) <= 1e-5 * (1 + abs(r.score)))
			 FROM generate_series(1, 30) u, LATERAL kpreco.recommend(u, 100, 'alg_' || algorithm) r),
	algorithm || ': every recommend score is predict() of the pair')
  FROM alg_options ORDER BY algorithm;
SELECT ok((SELECT bool_and(score <= previous) FROM (
			SELECT r.score, lag(r.score, 1, 'Infinity') OVER (PARTITION BY u ORDER BY r.rank) AS previous
			  FROM generate_series(1, 30) u, LATERAL kpreco.recommend(u, 100, 'alg_' || algorithm) r) s),
	algorithm || ': recommend ranks by decreasing score')
  FROM alg_options ORDER BY algorithm;
SELECT ok((SELECT count(*) = 4 AND NOT bool_or(s.course_id = 103) FROM kpreco.similar_courses(103, 4, 'alg_' || algorithm) s),
	algorithm || ': similar_courses gives 4 other courses')
  FROM alg_options ORDER BY algorithm;
SELECT ok((SELECT bool_and(abs(kpreco.predict(u.user_id, c.course_id, 'alg_' || algorithm)
							   - (SELECT sum(x * y) FROM unnest(u.factors, c.factors) AS f(x, y))) <= 1e-5)
			 FROM kpreco.user_factors('alg_' || algorithm) u, kpreco.course_factors('alg_' || algorithm) c),
	algorithm || ': predict is the dot product of user_factors and course_factors rows')
  FROM alg_options WHERE algorithm <> 'ease' ORDER BY algorithm;

-- ease: item-item weights, no user vectors ---------------------------------------

SELECT throws_ok($$SELECT * FROM kpreco.user_factors('alg_ease')$$,
	'0A000', 'kpreco model "alg_ease" (ease) has no user factors', 'ease: user_factors raises 0A000');
-- B[i][j] as rows: course_factors of an ease model are the rows of B, by course id.
CREATE TEMP TABLE alg_ease_b AS
SELECT c.course_id AS from_course, ids.course_id AS to_course, c.factors[ids.position::integer] AS weight
  FROM kpreco.course_factors('alg_ease') c,
	   (SELECT course_id, row_number() OVER (ORDER BY course_id) AS position FROM kpreco.course_factors('alg_ease')) ids;
SELECT is((SELECT count(*) FROM alg_ease_b WHERE from_course = to_course AND weight <> 0), 0::bigint,
	'ease: course_factors are rows of item-item weights with a zero diagonal');
SELECT results_eq(
	$$SELECT s.course_id, s.similarity FROM generate_series(101, 115) c, LATERAL kpreco.similar_courses(c, 5, 'alg_ease') s
	   ORDER BY c, s.rank$$,
	$$SELECT to_course, weight FROM (
		SELECT b.*, row_number() OVER (PARTITION BY from_course ORDER BY weight DESC, to_course) AS rank
		  FROM alg_ease_b b WHERE from_course <> to_course) s WHERE rank <= 5 ORDER BY from_course, rank$$,
	'ease: similar_courses ranks the other courses by the item-item weights of the course');
SELECT ok((SELECT bool_and(abs(kpreco.predict(u, b.to_course, 'alg_ease') - b.total) <= 1e-5)
			 FROM (SELECT t.user_id AS u, b.to_course, sum(b.weight) AS total
					 FROM alg_rows t JOIN alg_ease_b b ON b.from_course = t.course_id GROUP BY 1, 2) b),
	'ease: predict sums the weight rows of the user''s training courses');
SELECT results_eq(
	$$SELECT u, r.course_id FROM generate_series(1, 30) u, LATERAL kpreco.recommend(u, 100, 'alg_ease') r ORDER BY u, r.rank$$,
	$$SELECT u, c FROM generate_series(1, 30) u, generate_series(101::bigint, 115) c
	   WHERE NOT EXISTS (SELECT 1 FROM alg_rows t WHERE t.user_id = u AND t.course_id = c)
	   ORDER BY u, kpreco.predict(u, c, 'alg_ease') DESC, c$$,
	'ease: recommend is every course not taken, by that score');
SELECT is((SELECT options FROM kpreco.models WHERE name = 'alg_ease' AND active) - 'regularization',
	'{"algorithm": "ease"}'::jsonb, 'ease: models.options');
SELECT ok((SELECT (options ->> 'regularization')::float8 > 0 FROM kpreco.models WHERE name = 'alg_ease' AND active),
	'ease: the options show the regularization (lambda) used');
SELECT is(pg_temp.stored_body('alg_ease'),
	pg_temp.body(pg_temp.agg('alg_rows', jsonb_build_object('algorithm', 'ease', 'weight_column', 'w',
		'regularization', (SELECT (options ->> 'regularization')::float8 FROM kpreco.models WHERE name = 'alg_ease' AND active)))),
	'ease: training with that lambda given gives the same model');
SELECT lives_ok($$SELECT kpreco.train('alg_ease_x4', 'SELECT user_id, course_id, 4 * w AS w FROM alg_rows', '{"algorithm": "ease", "weight_column": "w"}')$$,
	'ease: a model of the same rows with every weight x4');
SELECT ok((SELECT (options ->> 'regularization')::real FROM kpreco.models WHERE name = 'alg_ease_x4')
		  > (SELECT (options ->> 'regularization')::real FROM kpreco.models WHERE name = 'alg_ease'),
	'ease: the default lambda is scaled to the data (larger weights, larger lambda)');
SELECT is((SELECT array_agg(line ORDER BY line) FROM (
			SELECT format('%s:%s:%s', u, r.rank, r.course_id) AS line
			  FROM generate_series(1, 30) u, LATERAL kpreco.recommend(u, 100, 'alg_ease_x4') r) s),
	(SELECT array_agg(line ORDER BY line) FROM (
			SELECT format('%s:%s:%s', u, r.rank, r.course_id) AS line
			  FROM generate_series(1, 30) u, LATERAL kpreco.recommend(u, 100, 'alg_ease') r) s),
	'ease: so that the unit of the weights does not change the recommendations');
SELECT is((SELECT kpreco.model_info(kpreco.train_agg(user_id, course_id, w, '{"algorithm": "ease", "regularization": 50}')) -> 'options'
			 FROM alg_rows),
	'{"algorithm": "ease", "regularization": 50}'::jsonb, 'ease: a given regularization is the one used');

-- popular: summed weights ----------------------------------------------------------

SELECT is((SELECT array_agg(format('%s:%s', course_id, kpreco.predict(1, course_id, 'alg_popular')) ORDER BY course_id)
			 FROM (SELECT DISTINCT course_id FROM alg_rows) c),
	(SELECT array_agg(format('%s:%s', course_id, total) ORDER BY course_id)
	   FROM (SELECT course_id, sum(w) AS total FROM alg_rows GROUP BY course_id) s),
	'popular: predict of a course is its summed weight');
CREATE TEMP TABLE alg_popular_order AS
SELECT course_id, row_number() OVER (ORDER BY sum(w) DESC, course_id) AS position FROM alg_rows GROUP BY course_id;
SELECT results_eq(
	$$SELECT u, r.course_id FROM generate_series(1, 30) u, LATERAL kpreco.recommend(u, 100, 'alg_popular') r ORDER BY u, r.rank$$,
	$$SELECT u, p.course_id FROM generate_series(1, 30) u, alg_popular_order p
	   WHERE NOT EXISTS (SELECT 1 FROM alg_rows t WHERE t.user_id = u AND t.course_id = p.course_id)
	   ORDER BY u, p.position$$,
	'popular: every user gets the popular order (by summed weight), without the courses taken');
SELECT results_eq(
	$$SELECT course_id FROM kpreco.recommend(999, 100, 'alg_popular') ORDER BY rank$$,
	$$SELECT course_id FROM alg_popular_order ORDER BY position$$,
	'popular: an unknown user gets the same popular order');
SELECT results_eq(
	$$SELECT course_id FROM kpreco.similar_courses(101, 100, 'alg_popular') ORDER BY rank$$,
	$$SELECT course_id FROM alg_popular_order WHERE course_id <> 101 ORDER BY position$$,
	'popular: similar_courses lists the other courses in the popular order');

-- als: ratings ------------------------------------------------------------------

SELECT ok((SELECT bool_and(kpreco.predict(user_id, course_id, 'alg_als') BETWEEN 0 AND 6) FROM alg_ratings),
	'als: predict of a rated pair is a rating in a sensible range (0 to 6 for ratings 1 to 5)');
-- Unrated pairs are pulled towards a rating below the user's level (kp_als.h), not off the scale.
SELECT ok((SELECT bool_and(kpreco.predict(u, c, 'alg_als') BETWEEN -2 AND 8)
			 FROM generate_series(1, 30) u, generate_series(101, 115) c),
	'als: predict of any pair stays on the scale of the ratings (-2 to 8 for ratings 1 to 5)');
SELECT ok((SELECT sqrt(avg((kpreco.predict(user_id, course_id, 'alg_als') - rating) ^ 2)) < 0.5 FROM alg_ratings),
	'als: predict is close to the training ratings (RMSE below 0.5)');
SELECT ok((SELECT options @> '{"algorithm": "als", "factors": 4, "iterations": 10, "seed": 3}' FROM kpreco.models WHERE name = 'alg_als' AND active),
	'als: models.options shows the options given');
SELECT is((SELECT jsonb_typeof(options -> 'regularization') FROM kpreco.models WHERE name = 'alg_als' AND active), 'number',
	'als: and the regularization used');
SELECT kpreco.model_info(kpreco.train_agg(user_id, course_id, rating, '{"algorithm": "als"}')) -> 'options' AS als_defaults
  FROM alg_ratings \gset
SELECT ok(:'als_defaults'::jsonb ?& ARRAY['algorithm', 'factors', 'iterations', 'regularization', 'seed'],
	'als: every default is spelled out');
SELECT is(pg_temp.body(pg_temp.agg('alg_ratings', :'als_defaults'::jsonb || '{"weight_column": "rating"}')),
	pg_temp.body((SELECT kpreco.train_agg(user_id, course_id, rating, '{"algorithm": "als"}') FROM alg_ratings)),
	'als: and training with them given is training with the defaults');
SELECT is(pg_temp.body((SELECT kpreco.train_agg(user_id, course_id, rating, '{"algorithm": "als", "factors": 3}')
						  FROM (SELECT user_id, course_id, rating FROM alg_ratings WHERE (user_id, course_id) <> (1, 101)
								UNION ALL VALUES (1, 101, 2), (1, 101, 4)) r)),
	pg_temp.body((SELECT kpreco.train_agg(user_id, course_id, rating, '{"algorithm": "als", "factors": 3}')
					FROM (SELECT user_id, course_id, rating FROM alg_ratings WHERE (user_id, course_id) <> (1, 101)
						  UNION ALL VALUES (1, 101, 3)) r)),
	'als: a pair rated 2 and 4 trains as rated 3 (repeated ratings are averaged)');

-- bpr ----------------------------------------------------------------------------

SELECT is((SELECT options FROM kpreco.models WHERE name = 'alg_bpr' AND active),
	'{"algorithm": "bpr", "factors": 4, "epochs": 30, "learning_rate": 0.05, "regularization": 0.01, "seed": 3}'::jsonb,
	'bpr: models.options shows epochs and learning_rate');
SELECT is((SELECT kpreco.model_info(kpreco.train_agg(user_id, course_id, w, '{"algorithm": "bpr", "epochs": 1}')) -> 'options' FROM alg_rows),
	'{"algorithm": "bpr", "factors": 64, "epochs": 1, "learning_rate": 0.01, "regularization": 0.01, "seed": 42}'::jsonb,
	'bpr: its defaults');
SELECT is((SELECT options FROM kpreco.models WHERE name = 'alg_ials' AND active),
	'{"algorithm": "ials", "factors": 4, "iterations": 6, "regularization": 0.01, "alpha": 1, "solver": "cg", "cg_steps": 3, "seed": 3}'::jsonb,
	'ials (the default algorithm): models.options spells out every option');
SELECT is((SELECT options FROM kpreco.models WHERE name = 'alg_popular' AND active),
	'{"algorithm": "popular"}'::jsonb, 'popular: models.options');
SELECT isnt(pg_temp.body(pg_temp.agg('alg_rows', '{"algorithm": "bpr", "factors": 4, "epochs": 30, "learning_rate": 0.01, "seed": 3}')),
	pg_temp.body(pg_temp.agg('alg_rows', '{"algorithm": "bpr", "factors": 4, "epochs": 30, "learning_rate": 0.05, "seed": 3}')),
	'bpr: learning_rate changes the model');
SELECT isnt(pg_temp.body(pg_temp.agg('alg_rows', '{"algorithm": "bpr", "factors": 4, "epochs": 10, "seed": 3}')),
	pg_temp.body(pg_temp.agg('alg_rows', '{"algorithm": "bpr", "factors": 4, "epochs": 30, "seed": 3}')),
	'bpr: epochs change the model');
SELECT is((SELECT count(*) FROM kpreco.training_log WHERE version = (SELECT version FROM kpreco.models WHERE name = 'alg_bpr' AND active)),
	30::bigint, 'bpr: the training log has a row per epoch');
SELECT is(pg_temp.body(pg_temp.agg(o.source, m.options || jsonb_build_object('weight_column', o.options -> 'weight_column'))),
	pg_temp.stored_body(m.name), o.algorithm || ': the effective options of models.options train the same model again')
  FROM alg_options o JOIN kpreco.models m ON m.name = 'alg_' || o.algorithm AND m.active ORDER BY o.algorithm;

-- Options that do not apply --------------------------------------------------------

SELECT throws_ok(format('SELECT kpreco.train(%L, %L, %L)', 'alg_bad', 'alg_rows', options), '22023', message,
	'train: ' || message)
  FROM (VALUES ('{"algorithm": "bpr", "alpha": 2}'::jsonb, 'option "alpha" does not apply to algorithm bpr (it applies to ials)'),
			   ('{"algorithm": "ials", "epochs": 5}', 'option "epochs" does not apply to algorithm ials (it applies to bpr)'),
			   ('{"algorithm": "als", "learning_rate": 0.1}', 'option "learning_rate" does not apply to algorithm als (it applies to bpr)'),
			   ('{"algorithm": "ease", "factors": 8}', 'option "factors" does not apply to algorithm ease (it applies to ials, bpr, als)'),
			   ('{"algorithm": "popular", "seed": 1}', 'option "seed" does not apply to algorithm popular (it applies to ials, bpr, als)'),
			   ('{"algorithm": "popular", "regularization": 1}', 'option "regularization" does not apply to algorithm popular (it applies to ials, bpr, als, ease)'),
			   ('{"algorithm": "auto", "iterations": 3}', 'option "iterations" does not apply to algorithm auto (it applies to ials, als)'),
			   ('{"algorithm": "gbdt"}', 'option "algorithm" has unknown value "gbdt"')) v(options, message);
SELECT throws_ok($$SELECT kpreco.train_agg(user_id, course_id, NULL, '{"algorithm": "ease", "iterations": 3}') FROM alg_rows$$,
	'22023', 'option "iterations" does not apply to algorithm ease (it applies to ials, als)', 'train_agg: a key that does not apply');
SELECT throws_ok($$SELECT kpreco.train_agg(user_id, course_id, NULL, '{"algorithm": "auto"}') FROM alg_rows$$,
	'0A000', 'algorithm "auto" is chosen by kpreco.train(), not by the aggregate', 'train_agg: algorithm auto is refused');
SELECT is((SELECT count(*) FROM kpreco.model_registry WHERE name = 'alg_bad'), 0::bigint, 'refused options leave no model behind');

-- auto through train() ---------------------------------------------------------------------

SELECT lives_ok($$SELECT kpreco.train('alg_auto', 'alg_rows', '{"algorithm": "auto", "weight_column": "w"}')$$,
	'auto trains through kpreco.train()');
SELECT is((SELECT jsonb_array_length(validation -> 'candidates') FROM kpreco.models WHERE name = 'alg_auto'),
	(SELECT count(*)::integer FROM kpreco.auto_candidates()), 'auto: every candidate was validated');
SELECT is((SELECT validation ->> 'holdout' FROM kpreco.models WHERE name = 'alg_auto'),
	'a fixed 20% of each user with 5 or more interactions', 'auto: without a time column, on a fixed 20% of each user');
SELECT is((SELECT algorithm FROM kpreco.models WHERE name = 'alg_auto'),
	(SELECT validation -> 'chosen' ->> 'algorithm' FROM kpreco.models WHERE name = 'alg_auto'),
	'auto: the version stored is of the algorithm chosen');

-- Event weights ------------------------------------------------------------------------

CREATE TEMP TABLE alg_events (user_id bigint, course_id bigint, event text, amount real);
INSERT INTO alg_events VALUES
	(1, 201, 'view', 1), (1, 201, 'purchase', 2), (1, 202, 'view', 1), (2, 201, 'view', 3),
	(2, 203, 'purchase', 1), (3, 203, 'view', 1), (3, 204, 'wishlist', 1), (4, 205, NULL, 1),
	(4, 202, 'purchase', 1), (5, 202, 'view', 2);
\set events '''{"algorithm": "popular", "event_column": "event", "event_weights": {"view": 1, "purchase": 10}}'''
SELECT lives_ok(format($$SELECT kpreco.train('alg_events', 'alg_events', %L)$$, :events), 'a popular model with event weights');
SELECT is((SELECT array_agg(format('%s:%s', c, kpreco.predict(1, c, 'alg_events')) ORDER BY c) FROM generate_series(201, 205) c),
	ARRAY['201:12', '202:12', '203:11', '204:', '205:'],
	'a purchase weighs 10 and a view 1; other events and a NULL event are skipped');
SELECT is((SELECT n_interactions FROM kpreco.models WHERE name = 'alg_events'), 7::bigint,
	'the skipped rows are not interactions');
SELECT is((SELECT options FROM kpreco.models WHERE name = 'alg_events'),
	'{"algorithm": "popular", "event_column": "event", "event_weights": {"view": 1, "purchase": 10}}'::jsonb,
	'models.options shows the event options');
SELECT lives_ok($$SELECT kpreco.train('alg_events_amount', 'alg_events',
		'{"algorithm": "popular", "weight_column": "amount", "event_column": "event", "event_weights": {"view": 1, "purchase": 10}}')$$,
	'event weights with a weight column');
SELECT is((SELECT array_agg(format('%s:%s', c, kpreco.predict(1, c, 'alg_events_amount')) ORDER BY c) FROM generate_series(201, 203) c),
	ARRAY['201:24', '202:13', '203:11'], 'multiply the weight column');
SELECT lives_ok($$SELECT kpreco.train('alg_events_ials10', 'SELECT user_id, course_id, CASE WHEN course_id % 3 = 0 THEN ''purchase'' ELSE ''view'' END AS event FROM alg_rows',
		'{"factors": 4, "iterations": 6, "event_column": "event", "event_weights": {"view": 1, "purchase": 10}}')$$,
	'an ials model with purchases weighted 10');
SELECT lives_ok($$SELECT kpreco.train('alg_events_ials1', 'SELECT user_id, course_id, CASE WHEN course_id % 3 = 0 THEN ''purchase'' ELSE ''view'' END AS event FROM alg_rows',
		'{"factors": 4, "iterations": 6, "event_column": "event", "event_weights": {"view": 1, "purchase": 1}}')$$,
	'and with purchases weighted 1');
SELECT isnt(pg_temp.stored_body('alg_events_ials10'), pg_temp.stored_body('alg_events_ials1'),
	'the weight of a purchase changes the model');
SELECT is(pg_temp.stored_body('alg_events_ials1'),
	pg_temp.body(pg_temp.agg('alg_rows', '{"factors": 4, "iterations": 6}')),
	'every event weighted 1 is the model without event weights');
SELECT lives_ok($$SELECT kpreco.train('alg_events_zero', 'alg_events',
		'{"algorithm": "popular", "event_column": "event", "event_weights": {"view": 0, "purchase": 1}}')$$,
	'an event weighted 0');
SELECT is((SELECT n_interactions FROM kpreco.models WHERE name = 'alg_events_zero'), 3::bigint, 'is skipped like a zero weight');

-- Time decay: one half-life older, half the weight -----------------------------------------

CREATE TEMP TABLE alg_times (user_id bigint, course_id bigint, at timestamptz, day date, seconds bigint, event text);
INSERT INTO alg_times (user_id, course_id, at, event) VALUES
	(1, 301, '2025-03-31 12:00:00+00', 'view'),
	(2, 302, '2025-03-01 12:00:00+00', 'view'),     -- 30 days before the newest row
	(3, 303, '2025-01-30 12:00:00+00', 'view'),     -- 60 days
	(4, 301, '2025-03-01 12:00:00+00', 'purchase'),
	(5, 304, NULL, 'view');                         -- no time
UPDATE alg_times SET day = (at AT TIME ZONE 'UTC')::date, seconds = extract(epoch FROM at)::bigint;
SELECT lives_ok($$SELECT kpreco.train('alg_decay', 'alg_times', '{"algorithm": "popular", "time_column": "at", "half_life_days": 30}')$$,
	'a popular model with a half-life of 30 days');
SELECT is((SELECT array_agg(format('%s:%s', c, kpreco.predict(1, c, 'alg_decay')) ORDER BY c) FROM generate_series(301, 304) c),
	ARRAY['301:1.5', '302:0.5', '303:0.25', '304:'],
	'an interaction one half-life older weighs exactly half, two a quarter; a NULL time is skipped');
SELECT is((SELECT options FROM kpreco.models WHERE name = 'alg_decay'),
	jsonb_build_object('algorithm', 'popular', 'time_column', 'at', 'half_life_days', 30,
					   'decay_reference', extract(epoch FROM '2025-03-31 12:00:00+00'::timestamptz)),
	'models.options shows the decay options, and the newest time decay was measured from');
SELECT lives_ok($$SELECT kpreco.train('alg_decay_date', 'alg_times', '{"algorithm": "popular", "time_column": "day", "half_life_days": 30}')$$,
	'a date time column');
SELECT is(pg_temp.stored_body('alg_decay_date'), pg_temp.stored_body('alg_decay'), 'decays alike');
SELECT lives_ok($$SELECT kpreco.train('alg_decay_epoch', 'alg_times', '{"algorithm": "popular", "time_column": "seconds", "half_life_days": 30}')$$,
	'a bigint time column (seconds since 1970)');
SELECT is(pg_temp.stored_body('alg_decay_epoch'), pg_temp.stored_body('alg_decay'), 'decays alike');
SELECT lives_ok($$SELECT kpreco.train('alg_decay_events', 'alg_times',
		'{"algorithm": "popular", "time_column": "at", "half_life_days": 30, "event_column": "event", "event_weights": {"view": 1, "purchase": 10}}')$$,
	'event weights and time decay together');
SELECT is(kpreco.predict(1, 301, 'alg_decay_events'), 6::real, 'multiply: 1 + 10 x 0.5');
SELECT lives_ok($$SELECT kpreco.train('alg_decay_ancient', 'SELECT user_id, course_id, seconds FROM alg_times UNION ALL VALUES (6, 305, 0), (7, 305, 86400)',
		'{"algorithm": "popular", "time_column": "seconds", "half_life_days": 1}')$$,
	'rows 20,000 half-lives old train without error');
SELECT is((SELECT array_agg(kpreco.predict(1, c, 'alg_decay_ancient') ORDER BY c) FROM generate_series(301, 305) c),
	ARRAY[1, power(0.5::float8, 30), power(0.5::float8, 60), NULL, NULL]::real[],
	'their weights underflow to 0 and they are skipped; 30 and 60 half-lives are tiny but still count');
SELECT is(kpreco.decayed_weight(1, 1e9, 0.001), 0::real, 'decayed_weight: far past underflows to 0');
SELECT is(kpreco.decayed_weight(3, 45, 15), 0.375::real, 'decayed_weight: three half-lives of a weight of 3');

-- split() --------------------------------------------------------------------------------

-- User 1: six rows, one without a time (the oldest); user 2: five rows, the
-- last two at the same time (course id decides); user 3: four rows (too few
-- to hold out); user 4: ten; user 5: eleven; a row without a user.
CREATE TEMP TABLE alg_log (user_id bigint, course_id bigint, t timestamptz);
INSERT INTO alg_log VALUES
	(1, 20, '2024-01-01'), (1, 21, '2024-01-05'), (1, 22, '2024-01-05'), (1, 23, '2024-01-02'), (1, 24, '2024-01-03'), (1, 25, NULL),
	(2, 30, '2024-02-01'), (2, 36, '2024-02-02'), (2, 32, '2024-02-03'), (2, 35, '2024-02-09'), (2, 34, '2024-02-09'),
	(3, 40, '2024-01-01'), (3, 41, '2024-01-02'), (3, 42, '2024-01-03'), (3, 43, '2024-01-04'),
	(NULL, 99, '2024-12-31');
INSERT INTO alg_log SELECT 4, 50 + i, '2024-03-01'::timestamptz + (10 - i) * interval '1 hour' FROM generate_series(1, 10) i;
INSERT INTO alg_log SELECT 5, 60 + i, '2024-03-01'::timestamptz + i * interval '1 day' FROM generate_series(1, 11) i;

SELECT results_eq($$SELECT * FROM kpreco.split('alg_log', 'alg_split', '{"time_column": "t"}')$$,
	$$VALUES ('train', 29::bigint, 5::bigint), ('test', 8, 4)$$,
	'split: a temporal split returns the rows and users of each part');
SELECT results_eq($$SELECT user_id, course_id FROM alg_split_test ORDER BY user_id, course_id$$,
	$$VALUES (1::bigint, 21::bigint), (1, 22), (2, 35), (4, 51), (4, 52), (5, 69), (5, 70), (5, 71)$$,
	'split: each user with 5 or more rows holds out the last ceil(0.2 n) by time, then course id');
SELECT results_eq(
	$$SELECT * FROM alg_split_train UNION ALL SELECT * FROM alg_split_test ORDER BY 1, 2$$,
	$$SELECT * FROM alg_log ORDER BY 1, 2$$,
	'split: train and test together are the source, columns and all');
SELECT results_eq($$SELECT * FROM kpreco.split('alg_log', 'alg_half', '{"time_column": "t", "fraction": 0.5, "min_interactions": 4}')$$,
	$$VALUES ('train', 18::bigint, 5::bigint), ('test', 19, 5)$$,
	'split: fraction 0.5 and min_interactions 4');
SELECT results_eq($$SELECT user_id, course_id FROM alg_half_test ORDER BY user_id, course_id$$,
	$$VALUES (1::bigint, 21::bigint), (1, 22), (1, 24), (2, 32), (2, 34), (2, 35), (3, 42), (3, 43),
			 (4, 51), (4, 52), (4, 53), (4, 54), (4, 55), (5, 66), (5, 67), (5, 68), (5, 69), (5, 70), (5, 71)$$,
	'split: hold out the last ceil(0.5 n) of users with 4 or more rows');
SELECT throws_ok($$SELECT * FROM kpreco.split('alg_log', 'alg_split', '{"time_column": "t"}')$$,
	'42P07', 'relation "alg_split_train" already exists', 'split: existing tables are not replaced');
SELECT results_eq($$SELECT * FROM kpreco.split('alg_log', 'alg_split', '{"time_column": "t", "fraction": 0.4, "replace": true}')$$,
	$$VALUES ('train', 23::bigint, 5::bigint), ('test', 14, 4)$$,
	'split: unless option replace is true');
SELECT is((SELECT count(*) FROM alg_split_test), 14::bigint, 'which rewrites them');

SELECT lives_ok($$SELECT * FROM kpreco.split('alg_rows', 'alg_r1', '{"method": "random", "seed": 1}');
				  SELECT * FROM kpreco.split('alg_rows_shuffled', 'alg_r1again', '{"method": "random", "seed": 1}');
				  SELECT * FROM kpreco.split('alg_rows', 'alg_r2', '{"method": "random", "seed": 2}')$$,
	'split: random splits with seeds 1, 1 (rows in another order) and 2');
SELECT results_eq($$SELECT * FROM alg_r1_test ORDER BY 1, 2$$, $$SELECT * FROM alg_r1again_test ORDER BY 1, 2$$,
	'split: the same seed draws the same rows');
SELECT ok((SELECT count(*) FROM ((TABLE alg_r1_test EXCEPT TABLE alg_r2_test) UNION ALL (TABLE alg_r2_test EXCEPT TABLE alg_r1_test)) d) > 0,
	'split: another seed draws other rows');
SELECT is((SELECT array_agg(held ORDER BY user_id) FROM (SELECT user_id, count(*) AS held FROM alg_r2_test GROUP BY user_id) s),
	(SELECT array_agg(ceil(0.2 * n)::bigint ORDER BY user_id) FROM (SELECT user_id, count(*) AS n FROM alg_rows GROUP BY user_id) s WHERE n >= 5),
	'split: a random split holds out ceil(0.2 n) rows of every user with 5 or more');
SELECT results_eq($$SELECT * FROM alg_r2_train UNION ALL SELECT * FROM alg_r2_test ORDER BY 1, 2$$,
	$$SELECT * FROM alg_rows ORDER BY 1, 2$$, 'split: and keeps every row once');

CREATE SCHEMA alg_split_schema;
SELECT lives_ok($$SELECT * FROM kpreco.split('SELECT user_id AS member, course_id AS product, t FROM alg_log', 'alg_split_schema.held',
		'{"time_column": "t", "user_column": "member", "course_column": "product"}')$$,
	'split: a query with other column names, into a schema');
SELECT is((SELECT array_agg(table_name::text ORDER BY table_name) FROM information_schema.tables WHERE table_schema = 'alg_split_schema'),
	ARRAY['held_test', 'held_train'], 'split: the tables are created in the schema given');
SELECT results_eq($$SELECT member, product FROM alg_split_schema.held_test ORDER BY 1, 2$$,
	$$VALUES (1::bigint, 21::bigint), (1, 22), (2, 35), (4, 51), (4, 52), (5, 69), (5, 70), (5, 71)$$,
	'split: with the rows the table split held out');

-- Determinism without a dump: same rows and seed, same recommendations -------------------

SELECT lives_ok(format('SELECT kpreco.train(%L, %L, %L)', 'alg_again_' || algorithm, source || '_shuffled', options),
	algorithm || ' trains again on the rows in another order')
  FROM alg_options ORDER BY algorithm;
SELECT is((SELECT array_agg(line ORDER BY line) FROM pg_temp.served('alg_again_' || algorithm) line),
	(SELECT array_agg(line ORDER BY line) FROM pg_temp.served('alg_' || algorithm) line),
	algorithm || ': the same recommendations for every user')
  FROM alg_options ORDER BY algorithm;
SELECT is(pg_temp.body(pg_temp.agg(source || '_shuffled', options)), pg_temp.stored_body('alg_' || algorithm),
	algorithm || ': train_agg on the rows in another order gives the same model, bit for bit')
  FROM alg_options ORDER BY algorithm;
SELECT isnt(pg_temp.body(pg_temp.agg(source, options || '{"seed": 4}')), pg_temp.stored_body('alg_' || algorithm),
	algorithm || ': another seed gives another model')
  FROM alg_options WHERE options ? 'seed' ORDER BY algorithm;

SELECT * FROM finish();
ROLLBACK;
