# The two set-up commands of the README. Each installs what it needs first.
.PHONY: demo test setup

setup:
	@bash scripts/setup.sh

# Train the bundled example on its embedded data and write the trained network as EDN.
demo: setup
	.venv/bin/cortex-bridge demo

# The whole test suite: lint and type check first (fail fast), then Python, the JVM bridge
# and the Clojure tests.
test: setup
	.venv/bin/ruff check .
	.venv/bin/mypy
	.venv/bin/python -m pytest -p no:faulthandler -q
