# Thin wrapper over CMake. `make check` = deps, build, test, the ASan+UBSan suite, the TSan suite
# of the threaded tests, fuzz smoke; `make check-full` adds test_engine under TSan.
BUILD      ?= build
ASAN_BUILD ?= build-asan
TSAN_BUILD ?= build-tsan
FUZZ_BUILD ?= build-fuzz
JOBS       ?= $(shell nproc)
CMAKE_ARGS ?=

.PHONY: all deps build test asan tsan tsan-full fuzz-smoke fuzz check check-full demo bench clean \
	format

all: build

deps:
	./scripts/install-deps.sh

build: deps
	cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=RelWithDebInfo $(CMAKE_ARGS) >/dev/null
	cmake --build $(BUILD) -j $(JOBS)

test: build
	cd $(BUILD) && ctest --output-on-failure -j $(JOBS)

# The whole suite once more under AddressSanitizer + UndefinedBehaviorSanitizer.
asan: deps
	cmake -S . -B $(ASAN_BUILD) -DCMAKE_BUILD_TYPE=Debug -DMOECAP_SANITIZE="address;undefined" >/dev/null
	cmake --build $(ASAN_BUILD) -j $(JOBS)
	cd $(ASAN_BUILD) && ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1 \
		ctest --output-on-failure -j $(JOBS) -LE 'slow|timing'

# ThreadSanitizer: the tests that run threads (ctest label "tsan": the server, the client beside
# the mock server, clients on several threads, serve and bench end to end; docs/RELIABILITY.md).
# tsan-full adds test_engine (label "tsan-full"), which TSan slows to ~7 minutes on 2 cores.
TSAN_ENV = TSAN_OPTIONS="halt_on_error=1 second_deadlock_stack=1"
tsan: deps
	cmake -S . -B $(TSAN_BUILD) -DCMAKE_BUILD_TYPE=Debug -DMOECAP_SANITIZE=thread >/dev/null
	cmake --build $(TSAN_BUILD) -j $(JOBS)
	cd $(TSAN_BUILD) && $(TSAN_ENV) ctest --output-on-failure -j $(JOBS) -L '^tsan$$'

tsan-full: tsan
	cd $(TSAN_BUILD) && $(TSAN_ENV) ctest --output-on-failure -j $(JOBS) -L '^tsan-full$$'

# libFuzzer builds (clang). FUZZ_SECONDS per target; `make fuzz FUZZ_SECONDS=600` for campaigns.
FUZZ_SECONDS ?= 10
fuzz-build: deps
	cmake -S . -B $(FUZZ_BUILD) -DCMAKE_C_COMPILER=clang -DCMAKE_BUILD_TYPE=Debug \
		-DMOECAP_FUZZ=ON -DMOECAP_SANITIZE="address;undefined" >/dev/null
	cmake --build $(FUZZ_BUILD) -j $(JOBS)

fuzz-smoke fuzz: fuzz-build
	./scripts/fuzz.sh $(FUZZ_BUILD) $(FUZZ_SECONDS)

# The tsan job (fresh build + tests) takes about 2.5 minutes on 2 cores; test_engine under TSan
# (~7 minutes) only runs in check-full.
check: test asan tsan fuzz-smoke

check-full: check tsan-full

demo: build
	./scripts/demo.sh $(BUILD)

bench: deps
	cmake -S . -B build-release -DCMAKE_BUILD_TYPE=Release >/dev/null
	cmake --build build-release -j $(JOBS)
	./scripts/bench.sh build-release

format:
	clang-format -i $$(git ls-files '*.c' '*.h')

clean:
	rm -rf $(BUILD) $(ASAN_BUILD) $(TSAN_BUILD) $(FUZZ_BUILD) build-release
