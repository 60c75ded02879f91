# Set-up and the two jobs of the README. Everything installs into .venv from the package registries.
PYTHON ?= python3.11
VENV   ?= .venv
PIP    := $(VENV)/bin/pip
STAMP  := $(VENV)/.serbench-installed
PLUGIN_PYPROJECTS := $(wildcard plugins/*/pyproject.toml)

.PHONY: quickstart test setup clean leaderboard

quickstart: $(STAMP)
	$(VENV)/bin/serbench run benchmarks/quickstart.yaml --results results/quickstart
	$(VENV)/bin/serbench leaderboard --results results/quickstart

# pytest's exit code 5 (no test collected) is a failure, not a pass.
test: $(STAMP)
	$(VENV)/bin/python -m pytest -q -p no:cacheprovider; rc=$$?; \
	if [ $$rc -eq 5 ]; then echo "pytest collected no tests: failing"; exit 1; fi; exit $$rc

setup: $(STAMP)

# The committed leaderboard/: the public leaderboard's records (benchmarks/leaderboard.yaml: about an hour on 2 CPU
# cores) and, in leaderboard/ser-c/, the corruption suite's with its listening page; everything generated from them.
leaderboard: $(STAMP)
	$(VENV)/bin/serbench run benchmarks/leaderboard.yaml --results results/leaderboard
	$(VENV)/bin/serbench run benchmarks/corruptions.yaml --results results/corruptions
	rm -rf leaderboard/records leaderboard/ser-c/records leaderboard/ser-c/listen
	$(VENV)/bin/serbench results collect benchmarks/leaderboard.yaml --results results/leaderboard --out leaderboard
	$(VENV)/bin/serbench results collect benchmarks/corruptions.yaml --results results/corruptions --out leaderboard/ser-c
	$(VENV)/bin/serbench listen benchmarks/corruptions.yaml --out leaderboard/ser-c/listen
	$(VENV)/bin/serbench leaderboard --results leaderboard --out leaderboard
	$(VENV)/bin/serbench leaderboard --results leaderboard/ser-c --out leaderboard/ser-c

# pyproject.toml states ranges; $(CONSTRAINTS) pins the exact set CI is tested with.
CONSTRAINTS := constraints/ci.txt

$(STAMP): pyproject.toml $(PLUGIN_PYPROJECTS) $(CONSTRAINTS) Makefile
	$(PYTHON) -m venv $(VENV)
	$(PIP) install -q --disable-pip-version-check -c $(CONSTRAINTS) -e ".[dev,ray,plots]"
	# torchattacks 3.5.1 pins requests~=2.25.1, which would downgrade requests for everything else
	# (Ray included): install it without its dependencies; it needs nothing serbench does not have.
	$(PIP) install -q --disable-pip-version-check --no-deps -c $(CONSTRAINTS) torchattacks
	$(PIP) install -q --disable-pip-version-check --no-deps $(addprefix -e ,$(dir $(PLUGIN_PYPROJECTS)))
	$(PIP) install -q --disable-pip-version-check -c $(CONSTRAINTS) adversarial-robustness-toolbox espeakng-loader selenium transformers
	touch $(STAMP)

clean:
	rm -rf $(VENV) results
