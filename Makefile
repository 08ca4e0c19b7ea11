# Set-up and the two entry points of the README. Idempotent: re-running installs nothing new.
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
PYTHON ?= python3

.PHONY: setup demo test bench clean

$(STAMP): pyproject.toml Makefile
	@command -v ffmpeg >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    echo "installing ffmpeg (MP3/M4A decoding)"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends ffmpeg >/dev/null; \
	  else echo "warning: ffmpeg is not installed and cannot be installed here: MP3/M4A files will be refused"; fi; }
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
