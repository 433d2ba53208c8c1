# Entry points. Targets from other areas live in mk/*.mk and are included below.
UV ?= uv
export UV_PYTHON_DOWNLOADS := never

.PHONY: sync test lint crds check
sync:
	$(UV) sync --all-packages --locked

test: sync
	$(UV) run pytest

lint: sync
	$(UV) run ruff check .
	$(UV) run ruff format --check .
	$(UV) run lint-imports
	@for p in packages/*/; do echo "mypy $$p"; (cd $$p && $(UV) run mypy src tests) || exit 1; done

crds: sync
	$(UV) run python -m kaito_apis.crdgen --out crds

check: lint test

-include mk/*.mk
