# A thin layer over CMake (as Neovim has): the two commands of the README.
#   make demo   install dependencies, build, run the demo deployment
#   make test   install dependencies, build, run every test with ctest
#   make bench  run the benchmarks (tests/bench/), not part of `make test`
#   make asan   the tests again, built with ASan + LeakSanitizer + UBSan
#   make soak   the whole suite RUNS times (20) with twice the cores in parallel
#   make package        build/package/slipway_VERSION_ARCH.deb and a .tar.gz
#   make package-check  the .deb installed into a fresh Debian bookworm root
#                       (debootstrap; needs root and the Debian mirror)
#   make fuzz   each libFuzzer harness (tests/fuzz/) for FUZZ_SECONDS (60);
#               make fuzz-smoke: seed 1, 20000 inputs each (CI). Needs clang (docs/fuzzing.md)
BUILD ?= build
JOBS ?= $(shell nproc 2>/dev/null || echo 2)
CMAKE_FLAGS ?=

.PHONY: all deps deps-build build test demo bench asan soak fuzz fuzz-build fuzz-smoke clean package package-check

all: build

deps:
	@vendor/install-deps build run test

build: deps-build
	@cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=RelWithDebInfo $(CMAKE_FLAGS) >/dev/null
	@cmake --build $(BUILD) -j $(JOBS)

deps-build:
	@vendor/install-deps build

test: deps build
	cd $(BUILD) && ctest --output-on-failure -j $(JOBS)

demo: build
	@vendor/install-deps run
	$(BUILD)/slipway demo $(DEMO_ARGS)

bench: build
	@vendor/install-deps bench
	tests/bench/run $(BUILD)/slipway

asan:
	$(MAKE) test BUILD=build-asan CMAKE_FLAGS=-DSLIPWAY_SANITIZE=ON

# Depends are computed from the binary (CPack + dpkg-shlibdeps): build on
# the Debian release the package is for.
package: build
	@rm -rf $(BUILD)/package
	@cd $(BUILD) && cpack -B $(abspath $(BUILD))/package >/dev/null
	@rm -rf $(BUILD)/package/_CPack_Packages
	@ls $(BUILD)/package/slipway*.deb $(BUILD)/package/slipway*.tar.gz

package-check: package
	tests/pkg/debootstrap-check $(BUILD)/package/slipway_*.deb

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

# the CI gate: the same 20000 inputs from seed 1 on every machine (a cap of
# 60 s each); new inputs are for `make fuzz`, which explores
fuzz-smoke:
	FUZZ_SEED=1 FUZZ_RUNS=20000 $(MAKE) fuzz FUZZ_SECONDS=60

clean:
	rm -rf build build-asan build-fuzz
