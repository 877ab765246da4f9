-- Content cold start: courses with features and text but no interactions get
-- vectors from a ridge regression (options course_features, course_text,
-- text_search_config, feature_regularization; kpreco.content_agg;
-- kpreco.text_tokens), and the figure of docs/BENCHMARKS.md "Cold start" on
-- the demo data.
--
-- The demo data (scripts/demo_data.sql) commits schema demo of its own; it is
-- dropped at the end.
\set QUIET on
SET client_min_messages = warning;
\ir ../../scripts/demo_data.sql
\set QUIET on
BEGIN;
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS pgtap;
CREATE EXTENSION IF NOT EXISTS kpreco;
SELECT plan(95);

-- Tokens -------------------------------------------------------------------------

CREATE FUNCTION pg_temp.tokens(body text, config regconfig DEFAULT 'simple') RETURNS text[]
LANGUAGE sql AS $$ SELECT coalesce(array_agg(t), '{}') FROM kpreco.text_tokens(body, config) t $$;

SELECT is(pg_temp.tokens('机器学习'), ARRAY['机器', '器学', '学习'], 'Chinese: overlapping character bigrams');
SELECT is(pg_temp.tokens('Python 入门'), ARRAY['python', '入门'], 'mixed text: a word, lower case, and a bigram');
SELECT is(pg_temp.tokens('学'), ARRAY['学'], 'a run of one CJK character gives that character');
SELECT is(pg_temp.tokens('Go 并发编程：入门篇'), ARRAY['go', '并发', '发编', '编程', '入门', '门篇'],
		  'punctuation ends a CJK run');
SELECT is(pg_temp.tokens('Hello, world!!! (2nd edition)'), ARRAY['hello', 'world', '2nd', 'edition'],
		  'punctuation gives no tokens');
SELECT is(pg_temp.tokens('，。！？、…… !!'), '{}'::text[], 'only punctuation: no tokens');
SELECT is(pg_temp.tokens(''), '{}'::text[], 'empty text: no tokens');
SELECT is((SELECT count(*) FROM kpreco.text_tokens(NULL)), 0::bigint, 'NULL text: no tokens');
SELECT is(pg_temp.tokens('零基础学PPT表达'), ARRAY['ppt', '零基', '基础', '础学', '表达'],
		  'a word inside Chinese text without spaces');
SELECT is(pg_temp.tokens('Ｐｙｔｈｏｎ ２１天'), ARRAY['python', '21', '天'], 'fullwidth letters and digits (NFKC)');
SELECT is(pg_temp.tokens('ひらがなカナ 한국어'), ARRAY['ひら', 'らが', 'がな', 'なカ', 'カナ', '한국', '국어'],
		  'Japanese kana and Korean Hangul: bigrams');
SELECT is(pg_temp.tokens('python python 入门 入门'), ARRAY['python', 'python', '入门', '入门'],
		  'one token per occurrence');
SELECT is(pg_temp.tokens('Learning machines', 'english'), ARRAY['learn', 'machin'],
		  'the text search configuration stems');

-- Data: 3 categories of 8 courses; each user takes courses of one category ------

-- Category A has Chinese titles, B English ones, C both.  Courses 105, 205
-- and 305 have no interactions: they are the new courses.  Course 109 has
-- only an empty text, course 110 only features.
CREATE TEMP TABLE cs_courses (course_id bigint PRIMARY KEY, category text, teacher text, title text);
INSERT INTO cs_courses VALUES
	(101, 'A', 'wang', '机器学习入门'), (102, 'A', 'wang', '机器学习实战'), (103, 'A', 'li', '深度学习基础'),
	(104, 'A', 'li', '深度学习进阶'), (105, 'A', 'wang', '机器学习与深度学习'), (106, 'A', 'zhang', '编程基础'),
	(107, 'A', 'zhang', '数据结构与编程'), (108, 'A', 'li', '算法编程'),
	(201, 'B', 'smith', 'Personal Finance'), (202, 'B', 'smith', 'Finance Basics'),
	(203, 'B', 'jones', 'Investing in Stocks'), (204, 'B', 'jones', 'Stock Valuation'),
	(205, 'B', 'smith', 'Stocks and Personal Finance'), (206, 'B', 'brown', 'Bond Investing'),
	(207, 'B', 'brown', 'Finance for Families'), (208, 'B', 'jones', 'Investing Basics'),
	(301, 'C', 'zhao', '中国历史 Chinese History'), (302, 'C', 'zhao', '唐朝历史 Tang History'),
	(303, 'C', 'chen', '宋朝历史 Song History'), (304, 'C', 'chen', '世界历史 World History'),
	(305, 'C', 'zhao', '明朝历史 Ming History'), (306, 'C', 'liu', '历史地图 History Maps'),
	(307, 'C', 'liu', '三国历史 Three Kingdoms'), (308, 'C', 'chen', '近代历史 Modern History');
CREATE TEMP TABLE cs_rows AS
SELECT u AS user_id, (u % 3 + 1) * 100 + (u + j * 3) % 8 + 1 AS course_id, 1 + (u + j) % 3 AS w
  FROM generate_series(1::bigint, 90) u, generate_series(0, 3) j
UNION ALL
SELECT u, ((u + 1) % 3 + 1) * 100 + u % 8 + 1, 1 FROM generate_series(1::bigint, 90) u WHERE u % 4 = 0;
DELETE FROM cs_rows WHERE course_id IN (105, 205, 305);
CREATE TEMP TABLE cs_features AS
SELECT course_id, 'category:' || category AS feature, 1::real AS weight FROM cs_courses
UNION ALL SELECT course_id, 'teacher:' || teacher, 0.5 FROM cs_courses
UNION ALL SELECT 110, 'category:A', 1;
CREATE TEMP TABLE cs_text AS
SELECT course_id, title AS text FROM cs_courses UNION ALL SELECT 109, '';

CREATE FUNCTION pg_temp.category(c bigint) RETURNS text LANGUAGE sql AS $$
	SELECT coalesce((SELECT category FROM cs_courses WHERE course_id = c), CASE WHEN c = 110 THEN 'A' END)
$$;
-- The categories of a course's k most similar courses, best first.
CREATE FUNCTION pg_temp.neighbour_categories(model text, c bigint, k integer) RETURNS text[] LANGUAGE sql AS $$
	SELECT array_agg(pg_temp.category(s.course_id) ORDER BY s.rank) FROM kpreco.similar_courses(c, k, model) s
$$;
CREATE FUNCTION pg_temp.body(m kpreco.model) RETURNS bytea LANGUAGE sql AS $$
	SELECT substring(m::bytea FROM 65)
$$;
CREATE FUNCTION pg_temp.stored(model_name text) RETURNS kpreco.model LANGUAGE sql AS $$
	SELECT v.model FROM kpreco.model_versions v JOIN kpreco.model_registry r
		ON r.name = v.name AND r.active_version = v.version WHERE v.name = model_name
$$;
CREATE FUNCTION pg_temp.options(model_name text) RETURNS jsonb LANGUAGE sql AS $$
	SELECT options FROM kpreco.models WHERE name = model_name AND active
$$;
CREATE FUNCTION pg_temp.vector(model text, c bigint) RETURNS real[] LANGUAGE sql AS $$
	SELECT factors FROM kpreco.course_factors(model) WHERE course_id = c
$$;

-- Features and text --------------------------------------------------------------

SELECT lives_ok($$SELECT kpreco.train('cs_plain', 'cs_rows', '{"factors": 8, "iterations": 8, "weight_column": "w", "seed": 5}')$$,
				'trains without course features');
SELECT lives_ok($$SELECT kpreco.train('cs_both', 'cs_rows', '{"factors": 8, "iterations": 8, "weight_column": "w", "seed": 5,
	"course_features": "cs_features", "course_text": "SELECT course_id, text FROM cs_text"}')$$,
				'trains with course features and text');
SELECT is((SELECT n_courses FROM kpreco.models WHERE name = 'cs_both' AND active), 25,
		  'the 21 courses with interactions and the 4 new ones with features or tokens');
SELECT is((SELECT n_courses FROM kpreco.models WHERE name = 'cs_plain' AND active), 21, 'without features: 21 courses');
SELECT is((SELECT (n_users, n_interactions) FROM kpreco.models WHERE name = 'cs_both' AND active),
		  (SELECT (n_users, n_interactions) FROM kpreco.models WHERE name = 'cs_plain' AND active),
		  'the same users and interactions');
SELECT is((pg_temp.options('cs_both') ->> 'courses_from_features')::integer, 4, 'options record 4 courses from features');
SELECT is(pg_temp.options('cs_both') -> 'feature_regularization', '1'::jsonb, 'and the default feature_regularization');
SELECT is(pg_temp.options('cs_both') ->> 'course_features', 'cs_features', 'and the features query');
SELECT is(pg_temp.options('cs_both') ->> 'text_search_config', 'simple', 'and the text search configuration');
SELECT ok(NOT pg_temp.options('cs_plain') ?| ARRAY['courses_from_features', 'feature_regularization', 'course_features'],
		  'a model without features has none of these options');
SELECT is(ARRAY(SELECT course_id FROM kpreco.course_factors('cs_both') WHERE course_id IN (105, 109, 110, 205, 305) ORDER BY 1),
		  ARRAY[105, 110, 205, 305]::bigint[], 'new courses get vectors; a course with only an empty text does not');
SELECT is(ARRAY(SELECT course_id FROM kpreco.course_factors('cs_both')),
		  ARRAY(SELECT course_id FROM kpreco.course_factors('cs_both') ORDER BY course_id),
		  'course ids stay in ascending order');
SELECT is((SELECT count(*) FROM kpreco.course_factors('cs_plain') p JOIN kpreco.course_factors('cs_both') b USING (course_id)
		    WHERE p.factors = b.factors), 21::bigint, 'the trained courses keep their vectors');
SELECT is(pg_temp.body(pg_temp.stored('cs_plain')), pg_temp.body((SELECT kpreco.train_agg(user_id, course_id, w, '{"factors": 8, "iterations": 8, "weight_column": "w", "seed": 5}') FROM cs_rows)),
		  'without course features train() stores what train_agg gives');
SELECT ok((SELECT bool_and(f <> 0) FROM unnest(pg_temp.vector('cs_both', 105)) f), 'the new course''s vector is not zero');

-- A user of category A: the new course of A is recommended, and scored.
SELECT ok((SELECT count(*) FROM generate_series(3, 90, 3) u WHERE 105 IN (SELECT course_id FROM kpreco.recommend(u, 5, 'cs_both')))
		  >= 20, 'the new course of A is among the top 5 of most users of A');
SELECT ok((SELECT count(*) FROM generate_series(3, 90, 3) u WHERE 205 IN (SELECT course_id FROM kpreco.recommend(u, 5, 'cs_both')))
		  <= 5, 'and seldom among those of users of B');
SELECT isnt(kpreco.predict(3, 105, 'cs_both'), NULL, 'predict scores a new course');
SELECT ok(kpreco.predict(3, 105, 'cs_both') > kpreco.predict(3, 205, 'cs_both'),
		  'a user of A scores the new course of A above the one of B');
SELECT is(kpreco.predict(3, 105, 'cs_plain'), NULL, 'without features the course is unknown');
SELECT is(pg_temp.neighbour_categories('cs_both', 105, 5), ARRAY['A', 'A', 'A', 'A', 'A'],
		  'similar_courses of a new course: its category first');
SELECT is(pg_temp.neighbour_categories('cs_both', 205, 5), ARRAY['B', 'B', 'B', 'B', 'B'], 'also for B');
SELECT is(pg_temp.neighbour_categories('cs_both', 305, 5), ARRAY['C', 'C', 'C', 'C', 'C'], 'also for C');
SELECT is(pg_temp.neighbour_categories('cs_both', 110, 3), ARRAY['A', 'A', 'A'], 'a course with features and no text');
SELECT ok(105 IN (SELECT course_id FROM kpreco.similar_courses(101, 5, 'cs_both')),
		  'and a trained course has the new course of its category among its neighbours');

-- Text alone: Chinese-only, English-only and mixed titles.
SELECT lives_ok($$SELECT kpreco.train('cs_text', 'cs_rows', '{"factors": 8, "iterations": 8, "weight_column": "w", "seed": 5,
	"course_text": "SELECT course_id, text FROM cs_text"}')$$, 'trains with course text alone');
SELECT is((pg_temp.options('cs_text') ->> 'courses_from_features')::integer, 3, 'the three new courses have tokens');
SELECT is(pg_temp.neighbour_categories('cs_text', 105, 3), ARRAY['A', 'A', 'A'], 'Chinese-only titles');
SELECT is(pg_temp.neighbour_categories('cs_text', 205, 3), ARRAY['B', 'B', 'B'], 'English-only titles');
SELECT is(pg_temp.neighbour_categories('cs_text', 305, 3), ARRAY['C', 'C', 'C'], 'mixed titles');

-- Features alone, and another text search configuration.
SELECT lives_ok($$SELECT kpreco.train('cs_features', 'cs_rows', '{"factors": 8, "iterations": 8, "weight_column": "w", "seed": 5,
	"course_features": "SELECT course_id, feature, weight FROM cs_features", "feature_regularization": 0.1}')$$,
				'trains with course features alone');
SELECT is(pg_temp.options('cs_features') -> 'feature_regularization', '0.1'::jsonb, 'feature_regularization is stored');
SELECT is(pg_temp.neighbour_categories('cs_features', 205, 3), ARRAY['B', 'B', 'B'], 'features alone place a new course');
SELECT lives_ok($$SELECT kpreco.train('cs_english', 'cs_rows', '{"factors": 8, "iterations": 8, "weight_column": "w", "seed": 5,
	"course_text": "SELECT course_id, text FROM cs_text", "text_search_config": "english"}')$$,
				'trains with text_search_config english');
SELECT is(pg_temp.options('cs_english') ->> 'text_search_config', 'english', 'the configuration is stored');
SELECT lives_ok($$SELECT kpreco.train('cs_english')$$, 'retrains with the stored options');
SELECT is((pg_temp.options('cs_english') ->> 'courses_from_features')::integer, 3, 'and adds the new courses again');

-- bpr and als
SELECT lives_ok($$SELECT kpreco.train('cs_bpr', 'cs_rows', '{"algorithm": "bpr", "factors": 8, "epochs": 20, "seed": 5,
	"course_features": "cs_features"}')$$, 'bpr with course features');
SELECT isnt(kpreco.predict(3, 105, 'cs_bpr'), NULL, 'bpr: the new course is scored');
SELECT lives_ok($$SELECT kpreco.train('cs_als', 'cs_rows', '{"algorithm": "als", "factors": 4, "weight_column": "w", "seed": 5,
	"course_features": "cs_features"}')$$, 'als with course features');
SELECT is((pg_temp.vector('cs_als', 105))[6], 1::real, 'als: a new course keeps the constant 1 of the user''s offset');
SELECT ok(kpreco.predict(3, 105, 'cs_als') BETWEEN 0 AND 6, 'als: the new course''s predicted rating is on the scale');

-- ease and popular have no course vectors to predict.
SELECT throws_ok($$SELECT kpreco.train('cs_x', 'cs_rows', '{"algorithm": "ease", "course_features": "cs_features"}')$$,
				 '0A000', NULL, 'ease with course features is refused');
SELECT throws_ok($$SELECT kpreco.train('cs_x', 'cs_rows', '{"algorithm": "popular", "course_text": "SELECT course_id, text FROM cs_text"}')$$,
				 '0A000', NULL, 'popular with course text is refused');
SELECT throws_ok($$SELECT kpreco.train('cs_x', 'cs_rows', '{"algorithm": "auto", "course_text": "SELECT course_id, text FROM cs_text"}')$$,
				 '0A000', NULL, 'auto with course text is refused');
SELECT throws_ok($$SELECT kpreco.content_agg(m, 101, 'x', 1, NULL)
					 FROM (SELECT kpreco.train_agg(user_id, course_id, NULL, '{"algorithm": "ease"}') m FROM cs_rows) t$$,
				 '0A000', NULL, 'content_agg refuses an ease model');
SELECT is((SELECT count(*) FROM kpreco.models WHERE name = 'cs_x'), 0::bigint, 'nothing was stored');

-- Bad options ---------------------------------------------------------------------

SELECT throws_ok($$SELECT kpreco.train('cs_x', 'cs_rows', '{"course_features": 5}')$$, '22023',
				 'option "course_features" must be a query (or a table or view name) as a string', 'course_features: a number');
SELECT throws_ok($$SELECT kpreco.train('cs_x', 'cs_rows', '{"course_features": "  "}')$$, '22023',
				 'option "course_features" must be a query (or a table or view name) as a string', 'course_features: blank');
SELECT throws_ok($$SELECT kpreco.train('cs_x', 'cs_rows', '{"course_features": "SELECT course_id, feature FROM cs_features"}')$$, '22023',
				 'option "course_features" must be a query returning columns course_id, feature and weight',
				 'course_features: a query without weight');
SELECT throws_ok($$SELECT kpreco.train('cs_x', 'cs_rows', '{"course_text": "SELECT course_id, title FROM cs_courses"}')$$, '22023',
				 'option "course_text" must be a query returning columns course_id and text', 'course_text: no column text');
SELECT throws_ok($$SELECT kpreco.train('cs_x', 'cs_rows', '{"course_text": "SELECT course_id, text FROM no_such_table"}')$$, '22023',
				 'option "course_text" must be a query returning columns course_id and text', 'course_text: an unknown table');
SELECT throws_ok($$SELECT kpreco.train('cs_x', 'cs_rows', '{"course_text": "SELECT course_id, text FROM cs_text", "text_search_config": "klingon"}')$$,
				 '22023', NULL, 'text_search_config: unknown');
SELECT throws_ok($$SELECT kpreco.train('cs_x', 'cs_rows', '{"course_text": "SELECT course_id, text FROM cs_text", "text_search_config": 1}')$$,
				 '22023', NULL, 'text_search_config: not a string');
SELECT throws_ok($$SELECT kpreco.train('cs_x', 'cs_rows', '{"course_features": "cs_features", "text_search_config": "english"}')$$,
				 '22023', 'option "text_search_config" needs option "course_text"', 'text_search_config without course_text');
SELECT throws_ok($$SELECT kpreco.train('cs_x', 'cs_rows', '{"feature_regularization": 1}')$$,
				 '22023', 'option "feature_regularization" needs option "course_features" or "course_text"',
				 'feature_regularization without features');
SELECT throws_ok($$SELECT kpreco.train('cs_x', 'cs_rows', '{"course_features": "cs_features", "feature_regularization": 0}')$$,
				 '22023', NULL, 'feature_regularization: 0');
SELECT throws_ok($$SELECT kpreco.train('cs_x', 'cs_rows', '{"course_features": "cs_features", "feature_regularization": "1"}')$$,
				 '22023', NULL, 'feature_regularization: a string');
SELECT throws_ok($$SELECT kpreco.content_agg(m, 101, 'x', 1, '{"feature_regularisation": 1}')
					 FROM (SELECT kpreco.train_agg(user_id, course_id, NULL, '{"factors": 4}') m FROM cs_rows) t$$,
				 '22023', NULL, 'content_agg: an unknown option');
SELECT throws_ok($$SELECT kpreco.content_agg(m, 101, 'x', 1, '{"feature_regularization": -1}')
					 FROM (SELECT kpreco.train_agg(user_id, course_id, NULL, '{"factors": 4}') m FROM cs_rows) t$$,
				 '22023', NULL, 'content_agg: a negative feature_regularization');
SELECT is((SELECT count(*) FROM kpreco.models WHERE name = 'cs_x'), 0::bigint, 'nothing was stored');

-- Bad rows ------------------------------------------------------------------------

CREATE TEMP TABLE cs_model AS
SELECT kpreco.train_agg(user_id, course_id, w, '{"factors": 8, "iterations": 8, "seed": 5}') AS m FROM cs_rows;
CREATE FUNCTION pg_temp.content(rows_query text, options jsonb DEFAULT NULL) RETURNS kpreco.model LANGUAGE plpgsql AS $$
DECLARE
	result kpreco.model;
BEGIN
	EXECUTE format('SELECT kpreco.content_agg(t.m, f.course_id, f.feature, f.weight, $1)'
				   '  FROM cs_model t LEFT JOIN (%s) f (course_id, feature, weight) ON true', rows_query)
		INTO result USING options;
	RETURN result;
END
$$;
CREATE FUNCTION pg_temp.course_count(m kpreco.model) RETURNS integer LANGUAGE sql AS $$
	SELECT (kpreco.model_info(m) ->> 'n_courses')::integer
$$;

-- message / detail of the error a statement raises
CREATE FUNCTION pg_temp.error_of(statement text) RETURNS text LANGUAGE plpgsql AS $$
DECLARE
	message text;
	detail text;
BEGIN
	EXECUTE statement;
	RETURN NULL;
EXCEPTION WHEN OTHERS THEN
	GET STACKED DIAGNOSTICS message = MESSAGE_TEXT, detail = PG_EXCEPTION_DETAIL;
	RETURN message || ' / ' || detail;
END
$$;

SELECT throws_ok($$SELECT pg_temp.content('SELECT course_id, feature, CASE WHEN course_id = 203 THEN -1 ELSE weight END FROM cs_features')$$,
				 '22000', NULL, 'a negative weight is an error');
SELECT is(pg_temp.error_of($$SELECT pg_temp.content('SELECT course_id, feature, CASE WHEN course_id = 203 THEN -1 ELSE weight END FROM cs_features ORDER BY course_id, feature')$$),
		  '2 course feature rows have a negative weight / The first is row 22 (course_id 203, feature "category:B").',
		  'and it gives their count and names the first');
SELECT throws_ok($$SELECT pg_temp.content('SELECT course_id, feature, ''NaN''::real FROM cs_features')$$,
				 '22000', NULL, 'a NaN weight is an error');
SELECT throws_ok($$SELECT pg_temp.content('SELECT course_id, feature, ''Infinity''::real FROM cs_features')$$,
				 '22000', NULL, 'an infinite weight is an error');
SELECT throws_ok($$SELECT kpreco.train('cs_x', 'cs_rows', '{"course_features": "SELECT course_id, feature, -weight AS weight FROM cs_features"}')$$,
				 '22000', NULL, 'through train() too');
SELECT is(pg_temp.course_count(pg_temp.content('SELECT course_id, feature, NULL::real FROM cs_features')), 25,
		  'a NULL weight counts as 1');
SELECT is(pg_temp.course_count(pg_temp.content('SELECT CASE WHEN course_id = 105 THEN NULL ELSE course_id END, feature, weight FROM cs_features')), 24,
		  'rows with a NULL course id are skipped');
SELECT is(pg_temp.course_count(pg_temp.content('SELECT course_id, CASE WHEN course_id IN (105, 110) THEN NULL WHEN course_id = 205 THEN '''' ELSE feature END, weight FROM cs_features')), 22,
		  'rows with a NULL or empty feature are skipped');
SELECT is(pg_temp.course_count(pg_temp.content('SELECT course_id, feature, CASE WHEN course_id = 305 THEN 0 ELSE weight END FROM cs_features')), 24,
		  'rows of weight 0 are ignored');
SELECT is(pg_temp.content('SELECT course_id, feature, weight FROM cs_features WHERE false')::bytea, (SELECT m::bytea FROM cs_model),
		  'no feature rows: the model is unchanged');
SELECT is(pg_temp.content('SELECT NULL::bigint, feature, weight FROM cs_features')::bytea, (SELECT m::bytea FROM cs_model),
		  'only NULL course ids: the model is unchanged');
SELECT throws_ok($$SELECT pg_temp.content('SELECT course_id, feature, weight FROM cs_features WHERE course_id IN (105, 205)')$$,
				 '22000', 'none of the 2 courses with features is in the model', 'features of new courses alone teach nothing');
SELECT is(pg_temp.course_count(pg_temp.content('SELECT course_id, feature, weight FROM cs_features WHERE course_id NOT IN (105, 110, 205, 305)')), 21,
		  'features of trained courses alone add no course');
SELECT is((kpreco.model_info(pg_temp.content('SELECT course_id, feature, weight FROM cs_features WHERE course_id NOT IN (105, 110, 205, 305)')) -> 'options' ->> 'courses_from_features')::integer,
		  0, 'and say so');
SELECT is(pg_temp.content('SELECT course_id, feature, weight FROM cs_features ORDER BY feature DESC, course_id DESC')::bytea,
		  pg_temp.content('SELECT course_id, feature, weight FROM cs_features ORDER BY course_id, feature')::bytea,
		  'the result does not depend on the order of the rows');
SELECT lives_ok($$SELECT kpreco.train('cs_empty', 'cs_rows', '{"factors": 4, "course_features": "SELECT course_id, feature, weight FROM cs_features WHERE false"}')$$,
				'train() with a features query that returns no rows');
SELECT is((SELECT n_courses FROM kpreco.models WHERE name = 'cs_empty' AND active), 21, 'keeps the trained model');
SET LOCAL kpreco.max_training_memory = '1MB';
SELECT throws_ok($$SELECT pg_temp.content('SELECT 101, ''tag:'' || g, 1 FROM generate_series(1, 200000) g')$$,
				 '54000', NULL, 'features over kpreco.max_training_memory are refused');
RESET kpreco.max_training_memory;

-- The cold-start figure on the demo data (docs/BENCHMARKS.md, "Cold start") --------

-- Every 10th course is held out of the interactions; it is known by its
-- category, format (from its title), teacher and titles only.
CREATE TEMP TABLE cs_demo_held AS
SELECT course_id FROM (SELECT course_id, row_number() OVER (ORDER BY course_id) AS n FROM demo.courses) c WHERE n % 10 = 0;
CREATE TEMP VIEW cs_demo_features AS
SELECT course_id, 'category:' || category AS feature, 1 AS weight FROM demo.courses
UNION ALL SELECT course_id, 'teacher:' || teacher, 1 FROM demo.courses
UNION ALL SELECT course_id, 'format:' || CASE
	WHEN title_en LIKE 'Hands-on %' THEN 'hands-on' WHEN title_en LIKE 'Introduction to %' THEN 'introduction'
	WHEN title_en LIKE '% in 30 Lessons' THEN '30 lessons' WHEN title_en LIKE 'Advanced %' THEN 'advanced'
	WHEN title_en LIKE '% from Scratch' THEN 'from scratch' WHEN title_en LIKE '21-Day %' THEN 'bootcamp'
	WHEN title_en LIKE '%: Live Lectures' THEN 'live' WHEN title_en LIKE '%: An Audio Column' THEN 'audio column' END, 1
  FROM demo.courses;
SELECT lives_ok($$SELECT kpreco.train('cs_demo',
	'SELECT user_id, course_id, weight FROM demo.enrollments WHERE course_id NOT IN (SELECT course_id FROM cs_demo_held)',
	'{"weight_column": "weight", "course_features": "cs_demo_features",
	  "course_text": "SELECT course_id, title_zh || '' '' || title_en AS text FROM demo.courses"}')$$,
				'trains on the demo data without every 10th course');
SELECT is((pg_temp.options('cs_demo') ->> 'courses_from_features')::integer, 50, 'the 50 held-out courses get vectors');
CREATE TEMP TABLE cs_demo_hits AS
SELECT h.course_id,
	   EXISTS (SELECT 1 FROM kpreco.similar_courses(h.course_id, 5, 'cs_demo') s
				 JOIN demo.courses n ON n.course_id = s.course_id WHERE n.category = c.category) AS hit
  FROM cs_demo_held h JOIN demo.courses c USING (course_id);
SELECT diag(format('cold start on the demo data: a course of the same category in the top 5 of similar_courses for %s of %s held-out courses (%s)',
				   count(*) FILTER (WHERE hit), count(*), round(avg(hit::int), 3)))
  FROM cs_demo_hits;
SELECT cmp_ok((SELECT avg(hit::int)::double precision FROM cs_demo_hits), '>=', 0.8::double precision,
			  'cold start: a course of the same category in the top 5 for at least 80% of held-out courses');

SELECT * FROM finish();
ROLLBACK;
DROP SCHEMA demo CASCADE;
