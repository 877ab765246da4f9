EXTENSION = kpreco
EXTVERSION = 0.3.0

MODULE_big = kpreco
# Every file of the numerical core (src/core) is built into the module.
CORE_OBJS = $(patsubst %.c,%.o,$(sort $(wildcard src/core/*.c)))
GLUE_OBJS = src/kpreco.o src/pg_alloc.o src/options.o src/model_type.o \
	src/train_agg.o src/model_cache.o src/scoring.o src/serve.o src/evaluate.o src/audience.o src/session.o src/recommend_all.o \
	src/content.o
OBJS = $(CORE_OBJS) $(GLUE_OBJS)
HEADERS = $(wildcard include/*.h)

# Full install scripts of released versions are frozen; the newest is built
# from sql/$(EXTENSION).sql.
DATA = sql/$(EXTENSION)--0.1.0.sql sql/$(EXTENSION)--0.2.0.sql $(wildcard sql/$(EXTENSION)--*--*.sql)
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
	src/core/topk.c src/core/score.c src/core/batch.c
EXTRA_CLEAN += bench/kpreco_cli

.PHONY: cli
cli: bench/kpreco_cli

bench/kpreco_cli: bench/kpreco_cli.c $(CLI_SRCS) $(HEADERS)
	$(UNIT_CC) -std=gnu99 -O3 $(OPTFLAGS) -Wall -Wextra -Iinclude $(BLAS_CFLAGS) \
		-o $@ bench/kpreco_cli.c $(CLI_SRCS) $(BLAS_LIBS) -lm

# The unit tests under AddressSanitizer and UBSan, where any report fails the
# run: built for this CPU (its AVX-512 or AVX2 kernels), for AVX2, and with
# no vector extensions (the plain C loops).  The core is compiled once per build.
ASAN_CFLAGS = -std=c99 -O1 -g -fno-omit-frame-pointer -fsanitize=address,undefined \
	-fno-sanitize-recover=all -Wall -Wextra -Wno-unused-parameter
ASAN_VARIANTS = native portable $(if $(shell grep -qw avx2 /proc/cpuinfo 2>/dev/null && echo y),avx2)
UNIT_ASAN_BINS = $(foreach variant,$(ASAN_VARIANTS),\
	$(patsubst test/unit/%.c,test/unit/bin/asan-$(variant)/%,$(UNIT_SRCS)))

# $(1): build name, $(2): its code generation flags
define unit_asan_build
ASAN_CORE_OBJS_$(1) = $$(patsubst src/core/%.c,test/unit/bin/asan-$(1)/core/%.o,$$(CORE_SRCS))
test/unit/bin/asan-$(1)/core/%.o: src/core/%.c $$(HEADERS)
	@mkdir -p $$(@D)
	$$(UNIT_CC) $$(ASAN_CFLAGS) $(2) -Iinclude $$(BLAS_CFLAGS) -c -o $$@ $$<
test/unit/bin/asan-$(1)/%: test/unit/%.c test/unit/unit.h $$(ASAN_CORE_OBJS_$(1))
	$$(UNIT_CC) $$(ASAN_CFLAGS) $(2) -Iinclude $$(BLAS_CFLAGS) -o $$@ $$< $$(ASAN_CORE_OBJS_$(1)) $$(BLAS_LIBS) -lm
endef
$(eval $(call unit_asan_build,native,$(OPTFLAGS)))
$(eval $(call unit_asan_build,avx2,-mavx2 -mfma))
$(eval $(call unit_asan_build,portable,))

.PHONY: unit-asan
unit-asan: $(UNIT_ASAN_BINS)
	UBSAN_OPTIONS=print_stacktrace=1 prove -f $(UNIT_ASAN_BINS)

# libFuzzer targets over the core (fuzz/), with ASan and UBSan: make fuzz
# runs each for FUZZ_SECONDS, make fuzz-smoke for FUZZ_SMOKE_SECONDS.
FUZZ_CC ?= clang-14
FUZZ_SECONDS ?= 60
FUZZ_SMOKE_SECONDS ?= 10
FUZZ_CFLAGS ?= -std=c99 -O1 -g $(OPTFLAGS) -fsanitize=fuzzer,address,undefined \
	-fno-sanitize-recover=all -Wall -Wextra -Wno-unused-parameter
FUZZ_BINS = $(patsubst fuzz/%.c,fuzz/bin/%,$(sort $(wildcard fuzz/fuzz_*.c)))
EXTRA_CLEAN += fuzz/bin

fuzz/bin/fuzz_%: fuzz/fuzz_%.c fuzz/fuzz.h $(CORE_SRCS) $(HEADERS)
	@mkdir -p fuzz/bin
	$(FUZZ_CC) $(FUZZ_CFLAGS) -Iinclude $(BLAS_CFLAGS) -o $@ $< $(CORE_SRCS) $(BLAS_LIBS) -lm

.PHONY: fuzz fuzz-smoke fuzz-corpus
fuzz: $(FUZZ_BINS)
	FUZZ_SECONDS=$(FUZZ_SECONDS) prove -v fuzz/run.sh
fuzz-smoke: $(FUZZ_BINS)
	FUZZ_SECONDS=$(FUZZ_SMOKE_SECONDS) prove -v fuzz/run.sh

# Rewrites the seed corpora in fuzz/corpus (fuzz/seeds.c).
fuzz-corpus: fuzz/bin/seeds
	fuzz/bin/seeds fuzz/corpus
fuzz/bin/seeds: fuzz/seeds.c $(CORE_SRCS) $(HEADERS)
	@mkdir -p fuzz/bin
	$(UNIT_CC) $(UNIT_CFLAGS) -Iinclude $(BLAS_CFLAGS) -o $@ $< $(CORE_SRCS) $(BLAS_LIBS) -lm

# pg_regress against a server under valgrind, built without -march=native:
# a few minutes, run on request (scripts/valgrind.sh).
.PHONY: valgrind-check
valgrind-check:
	bash scripts/valgrind.sh
