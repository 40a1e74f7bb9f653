# parc -- a thin wrapper over CMake for the README's two commands.
#
#   make run    install what is missing, build, run the main job: the SVC
#               grid search (examples/gridsearch) on every core. Only what
#               it needs: libparc and the example, in build-run/, from
#               RUN_PACKAGES (no Criterion, MPI, parc command or Python)
#   make test   install what is missing, build, run the whole test suite
#
# Beside them: `make examples` runs the lectures' examples one after
# another, and CI adds `make check-asan` (ASan+UBSan build of the suite),
# `make check-tsan` (TSan build of the thread tests), `make check-mpich`
# (the MPI tests against MPICH), `make check-fuzz` (fuzz/: the fuzz
# targets, a short run each) and `make check-format` (.clang-format and
# .editorconfig; `make format` applies the first). `make bench` runs the
# comparisons in bench/ (not part of the tests).

BUILD      ?= build
RUN_BUILD  ?= build-run
JOBS       ?= $(shell nproc 2>/dev/null || echo 2)
CMAKE_FLAGS ?=
# Debian packages (binary -> package). RUN_PACKAGES: what `make run` needs,
# libparc and the grid search (libc6-dev: gcc only recommends it).
# TEST_PACKAGES: the rest of the build and the tests: the parc command
# (jansson; snappy's library, which parc probe's compression row loads),
# Criterion, Open MPI, gnuplot, iproute2 (test/mpi/netns.sh), groff-base
# (test/install/man.sh);
# then the Python package's (python/): headers, and what its tests compare
# with (numpy, scikit-learn, joblib) or use (cloudpickle).
RUN_PACKAGES  = cmake make gcc libc6-dev pkg-config libhwloc-dev libsvm-dev
TEST_PACKAGES = libcriterion-dev python3 gnuplot-nox libsnappy1v5 \
                openmpi-bin libopenmpi-dev iproute2 libjansson-dev groff-base \
                python3-dev python3-numpy python3-pytest python3-cloudpickle \
                python3-joblib python3-sklearn python3-pip python3-setuptools
DEBIAN_PACKAGES = $(RUN_PACKAGES) $(TEST_PACKAGES)
# Debian's python3, the one the packages above are for, whatever else is
# first on PATH.
PYTHON3_FLAG := $(shell [ -x /usr/bin/python3 ] && echo -DPython3_EXECUTABLE=/usr/bin/python3)
SUDO := $(shell [ "$$(id -u)" -eq 0 ] || echo sudo)

.PHONY: all deps deps-run configure build test run examples bench check-asan \
        check-tsan check-mpich check-fuzz check-format format install clean

all: build

# Installs those of PACKAGES that are missing (one apt-get for them all).
deps-run: PACKAGES = $(RUN_PACKAGES)
deps: PACKAGES = $(DEBIAN_PACKAGES)
deps deps-run:
	@missing=""; \
	for p in $(PACKAGES); do \
	  dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q 'ok installed' \
	    || missing="$$missing $$p"; \
	done; \
	if [ -n "$$missing" ]; then \
	  echo "parc: installing Debian packages:$$missing"; \
	  $(SUDO) apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq \
	    --no-install-recommends $$missing; \
	fi

configure: deps
	cmake -S . -B $(BUILD) -DPARC_TESTS=ON -DPARC_EXAMPLES=ON $(PYTHON3_FLAG) \
	  $(CMAKE_FLAGS)

build: configure
	cmake --build $(BUILD) -j$(JOBS)

# Tests run side by side, as many as there are CPUs: each is written to
# pass on a busy machine (timing checks are relative, workers oversubscribe
# on purpose).
test: build
	cd $(BUILD) && ctest --output-on-failure -j$(JOBS)

# The main job: the seeds' grid search, 50 SVC fits on one worker per
# physical core, after the same search on one worker (--baseline) so the
# speedup it prints is measured. Its own build, of that program alone.
run: deps-run
	cmake -S . -B $(RUN_BUILD) -DPARC_TESTS=OFF -DPARC_CLI=OFF -DPARC_MPI=OFF \
	  -DPARC_PYTHON=OFF -DPARC_EXAMPLES=ON $(CMAKE_FLAGS)
	cmake --build $(RUN_BUILD) -j$(JOBS) --target parc-gridsearch
	$(RUN_BUILD)/examples/parc-gridsearch --baseline

# The lectures, one after another.
RUN_EXAMPLES = threads_vs_processes threading_gotcha multiprocessing_gotcha \
               producer_consumer gather reduction_tree "pingpong --max-size 4M" \
               montecarlo_pi bootstrap permutation_test mcmc_chains

examples: build
	@for ex in $(RUN_EXAMPLES); do \
	  echo; echo "==== examples/$$ex"; \
	  $(BUILD)/examples/parc-$$ex || exit 1; \
	done

bench: deps
	bench/run

check-asan:
	$(MAKE) test BUILD=build-asan \
	  CMAKE_FLAGS="-DCMAKE_BUILD_TYPE=Debug -DPARC_WERROR=ON -DPARC_SANITIZE=address,undefined"

check-tsan:
	$(MAKE) test BUILD=build-tsan \
	  CMAKE_FLAGS="-DCMAKE_BUILD_TYPE=Debug -DPARC_WERROR=ON -DPARC_SANITIZE=thread"

# MPICH beside Open MPI: Debian gives it a lower priority, so mpirun and
# mpicc stay Open MPI's. The MPI tests and the examples' MPI runs, against
# a build of its own that CMake's FindMPI points at MPICH (about 30 s).
MPICH_PACKAGES = mpich libmpich-dev
check-mpich:
	$(MAKE) deps DEBIAN_PACKAGES="$(DEBIAN_PACKAGES) $(MPICH_PACKAGES)"
	$(MAKE) build BUILD=build-mpich \
	  CMAKE_FLAGS="-DPARC_WERROR=ON -DMPI_EXECUTABLE_SUFFIX=.mpich $(CMAKE_FLAGS)"
	cd build-mpich && ctest --output-on-failure --no-tests=error -L mpi
	cd build-mpich && ctest --output-on-failure --no-tests=error -R '_identical$$'

# The libFuzzer targets of fuzz/ (see its README), built with clang into
# build-fuzz/, each run FUZZ_SECONDS from its seeds (and what earlier runs
# kept in build-fuzz/fuzz/corpus/); any crash, leak, sanitizer report or
# hang fails, with its input left in build-fuzz/fuzz/.
FUZZ_PACKAGES = clang libclang-rt-dev
FUZZ_TARGETS  = args grid template metrics csv
FUZZ_SECONDS ?= 20
check-fuzz:
	$(MAKE) deps DEBIAN_PACKAGES="$(DEBIAN_PACKAGES) $(FUZZ_PACKAGES)"
	cmake -S . -B build-fuzz -DCMAKE_C_COMPILER=clang -DPARC_FUZZ=ON \
	  -DPARC_TESTS=OFF -DPARC_EXAMPLES=OFF -DPARC_WERROR=ON $(CMAKE_FLAGS)
	cmake --build build-fuzz -j$(JOBS) --target parc_fuzz
	@cd build-fuzz/fuzz && for t in $(FUZZ_TARGETS); do \
	  mkdir -p corpus/$$t && \
	  if ./fuzz_$$t -max_total_time=$(FUZZ_SECONDS) -timeout=10 \
	       -dict=$(CURDIR)/fuzz/$$t.dict -artifact_prefix=crash-$$t- \
	       -print_final_stats=1 corpus/$$t $(CURDIR)/fuzz/corpus/$$t \
	       >$$t.log 2>&1; then \
	    echo "fuzz_$$t: $$(grep -o 'Done [0-9]* runs in [0-9]* second(s)' $$t.log), no crash"; \
	  else \
	    tail -n 40 $$t.log; echo "fuzz_$$t: FAILED (build-fuzz/fuzz/$$t.log)"; exit 1; \
	  fi; \
	done

# The style of every tracked file (.ci/check-format): clang-format 14,
# Debian 12's, for the C files; the rules of .editorconfig for the rest.
FORMAT_PACKAGES = clang-format git
check-format:
	$(MAKE) deps DEBIAN_PACKAGES="$(FORMAT_PACKAGES)"
	.ci/check-format

format:
	$(MAKE) deps DEBIAN_PACKAGES="$(FORMAT_PACKAGES)"
	git ls-files '*.c' '*.h' | xargs clang-format -i

install: build
	cmake --install $(BUILD)

clean:
	rm -rf build build-run build-asan build-tsan build-mpich build-bench \
	  build-fuzz
