# parc -- a thin wrapper over CMake for the README's two commands.
#
#   make run    install what is missing, build, run the main job: the SVC
#               grid search (examples/gridsearch) on every core
#   make test   install what is missing, build, run the whole test suite
#
# Beside them: `make examples` runs the lectures' examples one after
# another, and CI adds `make check-asan` (ASan+UBSan build of the suite),
# `make check-tsan` (TSan build of the thread tests) and `make check-mpich`
# (the MPI tests against MPICH). `make bench` runs the comparisons in bench/
# (not part of the tests).

BUILD      ?= build
JOBS       ?= $(shell nproc 2>/dev/null || echo 2)
CMAKE_FLAGS ?=
# Debian packages the build and the tests need (binary -> package).
DEBIAN_PACKAGES = cmake make gcc pkg-config libhwloc-dev libcriterion-dev \
                  libsvm-dev python3 gnuplot-nox libsnappy-dev \
                  openmpi-bin libopenmpi-dev iproute2
SUDO := $(shell [ "$$(id -u)" -eq 0 ] || echo sudo)

.PHONY: all deps configure build test run examples bench check-asan \
        check-tsan check-mpich install clean

all: build

deps:
	@missing=""; \
	for p in $(DEBIAN_PACKAGES); do \
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
	cmake -S . -B $(BUILD) -DPARC_TESTS=ON -DPARC_EXAMPLES=ON $(CMAKE_FLAGS)

build: configure
	cmake --build $(BUILD) -j$(JOBS)

test: build
	cd $(BUILD) && ctest --output-on-failure

# The main job: the seeds' grid search, 50 SVC fits on one worker per
# physical core, after the same search on one worker (--baseline) so the
# speedup it prints is measured.
run: build
	$(BUILD)/examples/parc-gridsearch --baseline

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

install: build
	cmake --install $(BUILD)

clean:
	rm -rf build build-asan build-tsan build-mpich build-bench
