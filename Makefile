# Entry points. Targets from other areas live in mk/*.mk and are included below.
UV ?= uv
UV_VERSION := 0.13.9
export UV_PYTHON_DOWNLOADS := never

.PHONY: sync test pytest lint crds
sync:
	@command -v $(UV) >/dev/null || python3 -m pip install --quiet "uv==$(UV_VERSION)"
	$(UV) sync --all-packages --locked

# The README's test command: lint, build (or reuse) the local control plane, install the Debian
# packages the tests start (a no-op when present), run every test.
.PHONY: debian-prereqs
debian-prereqs:
	tools/ci/debian-prereqs.sh

test: lint localcluster-build debian-prereqs
	$(UV) run pytest

pytest: sync
	$(UV) run pytest $(PYTEST_ARGS)

lint: sync
	$(UV) run ruff check .
	$(UV) run ruff format --check .
	$(UV) run lint-imports
	@for p in packages/*/ e2e/; do echo "mypy $$p"; \
	  (cd $$p && $(UV) run mypy src $$(find tests -name '*.py' -print -quit 2>/dev/null | grep -q . && echo tests)) || exit 1; done

crds: sync
	$(UV) run python -m kaito_apis.crdgen --out crds

-include mk/*.mk
