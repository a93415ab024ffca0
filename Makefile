# The two commands of a fresh Debian 12 machine: `make demo` and `make test`.
# Each installs what it needs (scripts/install-deps) and builds first.
BUILD      ?= build
ASAN_BUILD ?= build-asan
JOBS       ?= $(shell nproc)

.PHONY: all deps build build-asan test test-unit test-asan demo bench format clean

all: build

deps:
	@scripts/install-deps

build: deps
	@cmake -S . -B $(BUILD) -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
	@ninja -C $(BUILD)

build-asan: deps
	@cmake -S . -B $(ASAN_BUILD) -G Ninja -DCMAKE_BUILD_TYPE=Debug -DVIGIL_SANITIZE=ON >/dev/null
	@ninja -C $(ASAN_BUILD) unit_tests vigil e2e_test

# Every test (unit, end-to-end against the DuckDB oracle), then all of them again
# under AddressSanitizer + UndefinedBehaviorSanitizer (the end-to-end tests then drive
# the sanitized vigil binary), but for two whose sanitized run would add minutes and no
# code of their own: the monitoring scenario across seeds (replays of two months of
# events, the same code paths as the other end-to-end tests) and the browser test.
ASAN_SKIP ?= MonitoringAcrossSeeds|DashboardTest
test: build build-asan
	@cd $(BUILD) && ctest --output-on-failure -j $(JOBS)
	@cd $(ASAN_BUILD) && ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1 \
	  ctest --output-on-failure -j $(JOBS) -E '$(ASAN_SKIP)'

demo: build
	@$(BUILD)/vigil --project examples/fraud demo --dir demo-run

bench: build
	@scripts/bench $(BUILD)

format:
	@clang-format -i $$(git ls-files 'src/*.h' 'src/*.cc' 'tests/*.h' 'tests/*.cc' 'bench/*.cc')

clean:
	rm -rf $(BUILD) $(ASAN_BUILD) demo-run
