# The two commands of a fresh Debian 12 machine: `make demo` and `make test`.
# Each installs what it needs (scripts/install-deps) and builds first.
BUILD      ?= build
ASAN_BUILD ?= build-asan
JOBS       ?= $(shell nproc)

.PHONY: all deps build build-asan test test-unit test-asan demo bench format clean

all: build

deps:
	@scripts/install-deps

# vigil and the tests; `make bench` adds the benchmark programs (ninja target benches).
build: deps
	@cmake -S . -B $(BUILD) -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
	@ninja -C $(BUILD) vigil unit_tests e2e_test

build-asan: deps
	@cmake -S . -B $(ASAN_BUILD) -G Ninja -DCMAKE_BUILD_TYPE=Debug -DVIGIL_SANITIZE=ON >/dev/null
	@ninja -C $(ASAN_BUILD) unit_tests vigil e2e_test

# Every test (unit, end-to-end against the DuckDB oracle), then under AddressSanitizer +
# UndefinedBehaviorSanitizer every unit test and the end-to-end tests that feed vigil bad
# or hostile input, which then drive the sanitized binary (CMakeLists.txt names them).
# The suite stays well under 30 minutes on 2 cores.
test: build build-asan
	@cd $(BUILD) && ctest --output-on-failure -j $(JOBS)
	@cd $(ASAN_BUILD) && ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1 \
	  ctest --output-on-failure -j $(JOBS)

demo: build
	@$(BUILD)/vigil --project examples/fraud demo --dir demo-run

bench: build
	@ninja -C $(BUILD) benches
	@scripts/bench $(BUILD)

format:
	@clang-format -i $$(git ls-files 'src/*.h' 'src/*.cc' 'tests/*.h' 'tests/*.cc' 'bench/*.cc')

clean:
	rm -rf $(BUILD) $(ASAN_BUILD) demo-run
