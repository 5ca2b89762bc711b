# A thin layer over CMake (as Neovim has): the two commands of the README.
#   make demo   install dependencies, build, run the demo deployment
#   make test   install dependencies, build, run every test with ctest
#   make bench  run the benchmarks (tests/bench/), not part of `make test`
#   make asan   the tests again, built with ASan + LeakSanitizer + UBSan
#   make soak   the whole suite RUNS times (20) with twice the cores in parallel
#   make fuzz   each libFuzzer harness (tests/fuzz/) for FUZZ_SECONDS (60);
#               make fuzz-smoke: 10 s each (CI). Needs clang (docs/fuzzing.md)
BUILD ?= build
JOBS ?= $(shell nproc 2>/dev/null || echo 2)
CMAKE_FLAGS ?=

.PHONY: all deps build test demo bench asan soak fuzz fuzz-build fuzz-smoke clean

all: build

deps:
	@vendor/install-deps

build: deps
	@cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=RelWithDebInfo $(CMAKE_FLAGS) >/dev/null
	@cmake --build $(BUILD) -j $(JOBS)

test: build
	cd $(BUILD) && ctest --output-on-failure -j $(JOBS)

demo: build
	$(BUILD)/slipway demo $(DEMO_ARGS)

bench: build
	@vendor/install-deps vendor/bench-deps.txt
	tests/bench/run $(BUILD)/slipway

asan:
	$(MAKE) test BUILD=build-asan CMAKE_FLAGS=-DSLIPWAY_SANITIZE=ON

RUNS ?= 20
soak: build
	tests/tools/soak $(BUILD) $(RUNS)

FUZZ_BUILD ?= build-fuzz
FUZZ_SECONDS ?= 60
fuzz-build: deps
	@CC=clang cmake -S . -B $(FUZZ_BUILD) -DCMAKE_BUILD_TYPE=RelWithDebInfo -DSLIPWAY_FUZZ=ON >/dev/null
	@cmake --build $(FUZZ_BUILD) -j $(JOBS) --target fuzz_yaml fuzz_lua

fuzz: fuzz-build
	tests/fuzz/run $(FUZZ_BUILD) $(FUZZ_SECONDS) $(FUZZ_HARNESSES)

fuzz-smoke:
	$(MAKE) fuzz FUZZ_SECONDS=10

clean:
	rm -rf build build-asan build-fuzz
