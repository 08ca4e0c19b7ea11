# Set-up and the two entry points of the README. Idempotent: re-running installs nothing new.
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
PYTHON ?= python3

.PHONY: setup demo test bench corpus clean

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

# Real, human-made songs with exact truth for bench/analysis.py (never used by the tests):
# Hydrogen's demo songs (../shared/eval/make_h2corpus.py) and the MIDI music of three Debian
# packages rendered with a SoundFont (bench/make_midi_corpus.py): OpenTTD's and Planet Blupi's
# in corpus/midi, Freedoom's in corpus/freedoom.
CORPUS_PACKAGES := hydrogen hydrogen-data fluidsynth timgm6mb-soundfont openttd-openmsx \
	planetblupi-music-midi freedoom
H2CORPUS ?= ../shared/eval/make_h2corpus.py

corpus: setup
	@missing=""; for p in $(CORPUS_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	  if [ -n "$$missing" ]; then \
	    if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	      echo "installing$$missing with apt-get"; \
	      apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing >/dev/null; \
	    else echo "cannot install:$$missing (needs root and apt-get)"; exit 1; fi; \
	  fi
	$(PY) -m pip install -q -e '.[dev,bench]'
	@if [ -f $(H2CORPUS) ]; then test -f corpus/h2/truth.json || $(PY) $(H2CORPUS) corpus/h2 --jobs 2; \
	  else echo "no $(H2CORPUS): the Hydrogen songs are skipped"; fi
	test -f corpus/midi/truth.json || $(PY) bench/make_midi_corpus.py corpus/midi
	test -f corpus/freedoom/truth.json || $(PY) bench/make_midi_corpus.py corpus/freedoom --set freedoom

bench: setup
	$(PY) bench/analysis.py $(foreach c,h2 midi freedoom,$(if $(wildcard corpus/$(c)/truth.json),--corpus corpus/$(c)))

clean:
	rm -rf $(VENV) echelon-data .pytest_cache corpus
