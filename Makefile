# Two commands on a fresh machine: `make run` (set up + start the app), `make test` (set up + run the tests).
PY ?= python3
VENV := .venv
STAMP := $(VENV)/.installed

$(STAMP): pyproject.toml
	test -x $(VENV)/bin/python || $(PY) -m venv $(VENV)
	$(VENV)/bin/python -m pip install -q --upgrade pip
	$(VENV)/bin/python -m pip install -q -e '.[test]'
	touch $(STAMP)

.PHONY: setup run test lint bench bundle
setup: $(STAMP)

run: $(STAMP)
	$(VENV)/bin/python main.py

# The suite runs in TEST_WORKERS processes (pytest-xdist), one per core by default: most of its time is spent
# waiting for the processes and servers it starts. `make test TEST_WORKERS=0` runs it in this one process.
# loadfile: a file's tests stay together, so the bundle and the wheel (module fixtures) are built once.
TEST_WORKERS ?= auto
test: $(STAMP)
	$(VENV)/bin/ruff check wfdesk tests main.py
	$(VENV)/bin/python -m pytest -q -n $(TEST_WORKERS) --dist loadfile

bench: $(STAMP)
	$(VENV)/bin/python tests/bench/bench_batch.py
	$(VENV)/bin/python tests/bench/bench_startup.py
	$(VENV)/bin/python tests/bench/bench_gallery.py
	$(VENV)/bin/python tests/bench/bench_gui_stall.py
	$(VENV)/bin/python tests/bench/bench_result_cache.py

# The wheel editors and teams install with pipx (README, "Install"): dist/wfdesk-VERSION-py3-none-any.whl.
.PHONY: wheel
wheel: $(STAMP)
	$(VENV)/bin/python -m pip wheel -q --no-deps --no-build-isolation -w dist .

# The one-folder app, no Python needed on the machine: dist/wfdesk/wfdesk (see "From the bundle" in README.md).
bundle: $(STAMP)
	$(VENV)/bin/pyinstaller --noconfirm --distpath dist --workpath build/pyinstaller packaging/wfdesk.spec
