# The one task runner. Run inside the venv (. .venv/bin/activate) after `make install`.
# .ci/run is what CI runs on a fresh machine.

PYTHON ?= python
ACTIONS := action-*/action.yml
WORKFLOWS := workflows-templates/*.yml .github/workflows/*.yml

.PHONY: install test quick e2e lint bench hooks ci release

install:  ## the venv's packages: the suite, its tests and linters
	uv pip install -e '.[test]'

test:  ## every test, as CI runs them (act workflows and the demo included), on two workers
	env -u VAULT_TEST_MOTO_URL $(PYTHON) -m pytest -q -n 2 --dist loadfile

quick:  ## the quick run: everything but the e2e tests (act, demo), on two workers
	# each worker starts its own moto server: tests reset it, so workers must not share one
	env -u VAULT_TEST_MOTO_URL $(PYTHON) -m pytest -q -m "not e2e" -n 2

e2e:  ## only the end-to-end runs: act workflows and the demo
	$(PYTHON) -m pytest -q -m e2e

lint:  ## ruff, mypy, actionlint, zizmor, cfn-lint
	ruff check .
	mypy
	actionlint $(WORKFLOWS)
	zizmor --offline --quiet --config zizmor.yml $(ACTIONS) $(WORKFLOWS)
	cfn-lint infra/*.yaml

bench:  ## the speed measurements against what a user would otherwise use (ratios)
	$(PYTHON) bench/zip_bench.py
	$(PYTHON) bench/deploy_bench.py
	$(PYTHON) bench/setup_bench.py

hooks:  ## install the pre-commit hooks (.pre-commit-config.yaml)
	uv pip install pre-commit
	pre-commit install

ci:  ## what CI runs, from scratch
	.ci/run

release:  ## the suite's own release: make release VERSION=X.Y.Z (scripts/release.py)
	$(PYTHON) scripts/release.py $(VERSION)
