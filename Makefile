# Set-up and the two entry points of the README. Idempotent: re-running installs nothing new.
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
PYTHON ?= python3

.PHONY: setup demo test bench clean

# System packages: ffmpeg (MP3/M4A decoding) and PostgreSQL (the tests run the dataset flow
# against a real server on loopback). Installed with apt-get when missing and we are root.
SYSTEM_PACKAGES := ffmpeg postgresql

$(STAMP): pyproject.toml Makefile
	@missing=""; command -v ffmpeg >/dev/null 2>&1 || missing="ffmpeg"; \
	  ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || missing="$$missing postgresql"; \
	  if [ -n "$$missing" ]; then \
	    if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	      echo "installing$$missing with apt-get"; \
	      apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing >/dev/null; \
	    else echo "warning: not installed and cannot be installed here:$$missing (MP3/M4A are refused; the PostgreSQL test is skipped)"; fi; \
	  fi
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	# torch first, pinned: a CPU build here; the project's own range then installs nothing more.
	$(PY) -m pip install -q torch==2.13.0
	$(PY) -m pip install -q -e '.[dev]'
	$(PY) -c "import torch, madmom, librosa, prefect, flows.cli"
	@touch $(STAMP)

setup: $(STAMP)

demo: setup
	$(VENV)/bin/echelon demo

test: setup
	$(PY) -m pytest -q

bench: setup
	$(PY) bench/analysis.py

clean:
	rm -rf $(VENV) echelon-data .pytest_cache
