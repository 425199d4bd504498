# Two entry points on a fresh machine: `make book` (the main job) and `make test`.
# Both set themselves up: a virtualenv in .venv, packages pinned by constraints.txt,
# espeak-ng (the synthetic corpus' speech synthesiser) through apt-get when we are root.
PROFILE ?= quick
DATA ?= auto
# preprocess.fit for recordings over one second (error, trim, trim_crop); empty: the profile's
FIT ?=
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-stamp

.PHONY: setup espeak test unit nbval book browser-test clean-book

$(STAMP): pyproject.toml constraints.txt
	@test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -c constraints.txt -e ".[book,test,web]"
	@touch $@

espeak:
	@command -v espeak-ng >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ]; then \
	    echo "installing espeak-ng with apt-get"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq espeak-ng >/dev/null; \
	  else \
	    echo "espeak-ng is missing; install it with: sudo apt-get install -y espeak-ng" >&2; exit 1; \
	  fi; }

setup: $(STAMP) espeak

# Unit tests, then every chapter executed by nbval on the smoke profile and the synthetic corpus,
# then the smoke book opened in headless Chromium; the wall time of each stage at the end.
test:
	@bash scripts/timed-stages setup unit nbval browser-test

# Unit tests on one worker per core (pytest-xdist; a test file stays on one worker, so that its
# fixtures are built once), each worker on one thread.
unit: setup
	$(PY) -m pytest -q -n auto --dist loadfile tests -m "not browser"

nbval: setup
	AUDIOMNIST_PROFILE=smoke AUDIOMNIST_DATA=synthetic MPLBACKEND=Agg \
	  $(PY) -m pytest -q -p no:cacheprovider --nbval-lax --nbval-cell-timeout=900 book/

book: setup
	$(VENV)/bin/audiomnist book --profile $(PROFILE) --data $(DATA) $(if $(FIT),--fit $(FIT))

# The smoke book built, then every page checked in Debian's chromium (installed when missing and
# we are root): console errors, images, audio, widgets, Colab links; screenshots in _build/screenshots.
browser-test: setup
	$(VENV)/bin/audiomnist book --profile smoke --data synthetic
	$(PY) -m pytest -q -p no:cacheprovider tests/browser

clean-book:
	rm -rf _build
