# The two commands of the README: `make serve` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin

.PHONY: serve test test-slow install install-test lint clean kcat promtool

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip

# Strom plus the clients the README's examples use (the `clients` extra).
$(VENV)/.installed: $(BIN)/python pyproject.toml
	$(BIN)/python -m pip install -q -e '.[clients]'
	touch $@

$(VENV)/.installed-test: $(VENV)/.installed
	$(BIN)/python -m pip install -q -e '.[test]'
	touch $@

install: $(VENV)/.installed
install-test: $(VENV)/.installed-test

# Kafka's development settings (config/server.properties): localhost:9092, data in ./data.
serve: install
	$(BIN)/strom serve config/server.properties

# kcat is optional: installed when we are root and apt works, skipped otherwise.
kcat:
	@command -v kcat >/dev/null 2>&1 || { [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1 && \
	  (apt-get install -y -qq kcat >/dev/null 2>&1 || (apt-get update -qq >/dev/null 2>&1 && apt-get install -y -qq kcat >/dev/null 2>&1)) ; } || true

# promtool (Debian's prometheus package) is optional too: the metrics tests run `promtool check metrics`
# when it is installed and skip that check with a message otherwise.
promtool:
	@command -v promtool >/dev/null 2>&1 || { [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1 && \
	  (apt-get install -y -qq --no-install-recommends prometheus >/dev/null 2>&1 || (apt-get update -qq >/dev/null 2>&1 && \
	   apt-get install -y -qq --no-install-recommends prometheus >/dev/null 2>&1)) ; } || true

test: install-test kcat promtool
	$(BIN)/lint-imports
	$(BIN)/python -m pytest -q -m "not slow" tests

# The long end-to-end runs (e.g. 100,000 records copied exactly once through 5 kills).
test-slow: install-test
	$(BIN)/python -m pytest -q -m slow tests

clean:
	rm -rf $(VENV) data
