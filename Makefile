EXTENSION = kpreco
EXTVERSION = 0.2.0

MODULE_big = kpreco
CORE_OBJS = src/core/core.o src/core/sparse.o src/core/idmap.o src/core/ials.o \
	src/core/topk.o src/core/score.o src/core/model_format.o src/core/model_edit.o \
	src/core/options.o
GLUE_OBJS = src/kpreco.o src/pg_alloc.o src/options.o src/model_type.o \
	src/train_agg.o src/model_cache.o src/serve.o
OBJS = $(CORE_OBJS) $(GLUE_OBJS)
HEADERS = $(wildcard include/*.h)

# Full install scripts of released versions are frozen; the newest is built
# from sql/$(EXTENSION).sql.
DATA = sql/$(EXTENSION)--0.1.0.sql $(wildcard sql/$(EXTENSION)--*--*.sql)
DATA_built = sql/$(EXTENSION)--$(EXTVERSION).sql

TESTS = $(sort $(wildcard test/sql/*.sql))
REGRESS = $(patsubst test/sql/%.sql,%,$(TESTS))
REGRESS_OPTS = --inputdir=test --load-extension=$(EXTENSION)

# Vectorised kernels; packagers building for other machines: make OPTFLAGS=
OPTFLAGS ?= -march=native
BLAS_CFLAGS := $(shell pkg-config --cflags openblas 2>/dev/null)
BLAS_LIBS := $(shell pkg-config --libs openblas 2>/dev/null || echo -lopenblas)
PG_CPPFLAGS = -I$(srcdir)/include $(BLAS_CFLAGS)
PG_CFLAGS = -O3 $(OPTFLAGS)
SHLIB_LINK = $(BLAS_LIBS) -lm

EXTRA_CLEAN = $(DATA_built) test/unit/bin

PG_CONFIG ?= pg_config
PGXS := $(shell $(PG_CONFIG) --pgxs)
include $(PGXS)

sql/$(EXTENSION)--$(EXTVERSION).sql: sql/$(EXTENSION).sql
	cp $< $@

$(OBJS): $(HEADERS)

# C unit tests of the numerical core: no server needed.
UNIT_CC ?= $(CC)
UNIT_CFLAGS ?= -std=c99 -O2 $(OPTFLAGS) -g -Wall -Wextra -Wno-unused-parameter
CORE_SRCS = $(CORE_OBJS:.o=.c)
UNIT_SRCS = $(sort $(wildcard test/unit/test_*.c))
UNIT_BINS = $(patsubst test/unit/%.c,test/unit/bin/%,$(UNIT_SRCS))

test/unit/bin/%: test/unit/%.c test/unit/unit.h $(CORE_SRCS) $(HEADERS)
	@mkdir -p test/unit/bin
	$(UNIT_CC) $(UNIT_CFLAGS) -Iinclude $(BLAS_CFLAGS) -o $@ $< $(CORE_SRCS) $(BLAS_LIBS) -lm

.PHONY: unit
unit: $(UNIT_BINS)
	prove -f $(UNIT_BINS)

# Standalone trainer/recommender over TSV files, for benchmarks: core only.
CLI_SRCS = src/core/core.c src/core/sparse.c src/core/idmap.c src/core/ials.c \
	src/core/topk.c src/core/score.c
EXTRA_CLEAN += bench/kpreco_cli

.PHONY: cli
cli: bench/kpreco_cli

bench/kpreco_cli: bench/kpreco_cli.c $(CLI_SRCS) $(HEADERS)
	$(UNIT_CC) -std=gnu99 -O3 $(OPTFLAGS) -Wall -Wextra -Iinclude $(BLAS_CFLAGS) \
		-o $@ bench/kpreco_cli.c $(CLI_SRCS) $(BLAS_LIBS) -lm
