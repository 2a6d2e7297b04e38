# Dossier: `make run` serves the app, `make test` runs the whole suite.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
FLASK := $(VENV)/bin/flask --app app
export PYTHONPATH := $(CURDIR)

.PHONY: run test venv dev setup worker scheduler babel-extract babel-compile lint bench clean

$(VENV)/.installed: requirements.txt
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --upgrade pip
	$(VENV)/bin/pip install --quiet -r requirements.txt
	touch $@

# Tests and tooling on top of the runtime: `make run` does not install them.
$(VENV)/.installed-dev: $(VENV)/.installed requirements-dev.txt
	$(VENV)/bin/pip install --quiet -r requirements-dev.txt
	touch $@

venv: $(VENV)/.installed

dev: $(VENV)/.installed-dev

babel-compile: venv
	$(VENV)/bin/pybabel compile --use-fuzzy -d translations -f >/dev/null

babel-extract: venv
	$(VENV)/bin/pybabel extract -F translations/babel.cfg -k lazy_gettext -k _l \
	  --no-location --sort-output --project Dossier -o translations/messages.pot \
	  app "$$($(PY) -c 'import flask_appbuilder, os; print(os.path.dirname(flask_appbuilder.__file__))')"
	$(VENV)/bin/pybabel update -i translations/messages.pot -d translations \
	  --width 100 --ignore-obsolete --no-fuzzy-matching

setup: venv babel-compile
	$(FLASK) db upgrade
	$(FLASK) dossier init
	$(FLASK) dossier demo

run: setup
	$(FLASK) dossier check
	@echo "Log in as $${DOSSIER_ADMIN_USER:-admin} (the password was printed on the first start)."
	$(FLASK) dossier serve

worker: venv
	$(FLASK) dossier worker

scheduler: venv
	$(FLASK) dossier scheduler

# The PostgreSQL pass runs beside the SQLite one (each on its own database, servers and
# ports); its report follows the SQLite one's. Either failing fails `make test`.
test: dev babel-compile
	@if [ -n "$$TEST_DATABASE_URL" ]; then \
	  log=$$(mktemp); \
	  ( DOSSIER_TEST_DB="$$TEST_DATABASE_URL" $(PY) -m pytest -q -p no:cacheprovider tests \
	      -m "not browser" >"$$log" 2>&1 ) & pg_pid=$$!; \
	  $(PY) -m pytest -q tests; sqlite=$$?; \
	  wait $$pg_pid; pg=$$?; \
	  echo "== the suite on PostgreSQL (run beside the SQLite one) =="; cat "$$log"; rm -f "$$log"; \
	  [ $$sqlite -eq 0 ] && [ $$pg -eq 0 ]; \
	else \
	  $(PY) -m pytest -q tests; \
	fi

lint: dev
	$(VENV)/bin/ruff check app tests bench migrations config.py gunicorn.conf.py app.py
	$(VENV)/bin/ruff format --check app tests bench migrations config.py gunicorn.conf.py app.py

bench: setup dev
	$(PY) bench/bench_partners.py

clean:
	rm -rf $(VENV) .pytest_cache
