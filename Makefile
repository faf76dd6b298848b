# Every target installs what is missing first (scripts/setup.sh), so each works on a fresh
# Debian machine and takes seconds when nothing changed.
.PHONY: setup demo test bench lint format

setup:
	@scripts/setup.sh

demo: setup
	node bin/loupe.js demo

test: setup
	npx --no-install eslint .
	npx --no-install prettier --check .
	npx --no-install tsc -p tsconfig.check.json
	npx --no-install tsc -p web/tsconfig.json
	node --import tsx --test --test-concurrency=2 test/*.test.ts

bench: setup
	node --import tsx bench/run.ts

format:
	npx --no-install prettier --write .
