# Two entry points: `make run` (portal with demo data on SQLite) and `make test` (whole suite).
# Every target is safe to run again.

PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
FLASK := HF_HUB_OFFLINE=1 $(BIN)/flask --app wsgi
export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1

.PHONY: install run test lint translations messages clean browser

$(BIN)/python:
	$(shell command -v $(PYTHON) || echo python3) -m venv $(VENV)
	$(BIN)/pip install --upgrade pip

# torch first, pinned to the CPU build: a bare "torch" requirement would pull the CUDA build.
$(STAMP): $(BIN)/python setup.cfg pyproject.toml
	$(BIN)/pip install "torch==2.13.0"
	$(BIN)/pip install -e ".[dev]"
	touch $(STAMP)

install: $(STAMP) translations instance/config.py

translations: $(STAMP)
	$(BIN)/pybabel compile -f --statistics -d initiatives/translations

# A random secret key for this checkout, written once and never committed.
instance/config.py:
	mkdir -p instance
	$(BIN)/python -c "import secrets; print('SECRET_KEY = %r' % secrets.token_hex(32))" > $@

run: install
	PORTAL_ENV=development $(FLASK) db upgrade
	PORTAL_ENV=development $(FLASK) demo
	PORTAL_ENV=development $(FLASK) match embed
	PORTAL_ENV=development $(FLASK) connections suggest
	PORTAL_ENV=development $(FLASK) search reindex
	PORTAL_ENV=development $(FLASK) run --host 127.0.0.1 --port 5000

test: install browser
	$(BIN)/python -m pytest $(PYTEST_ARGS)

# The browser tests (tests/e2e) drive Debian's Chromium through Playwright, which cannot download
# its own browser here: install the distribution's package once, through apt, only when missing.
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
browser:
	@test -x /usr/bin/chromium || ( $(SUDO) apt-get update && \
	    $(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends chromium )

lint: $(STAMP)
	$(BIN)/ruff check .

clean:
	rm -rf $(VENV) instance/config.py instance/*.db instance/index instance/attachments

# After changing user-facing strings: refresh the Vietnamese catalogue, then translate new entries.
messages: $(STAMP)
	$(BIN)/pybabel extract -F babel.cfg -k _l -k lazy_gettext -k ngettext -k _mark -o /tmp/portal-messages.pot .
	$(BIN)/pybabel update -i /tmp/portal-messages.pot -d initiatives/translations -l vi --no-fuzzy-matching
