# Release artifacts: the three images (images/*/Dockerfile) and the two charts as .tgz.
# One version source: the workspace root's pyproject.toml [project] version. It is the images'
# tag and the packaged charts' appVersion; the chart version is each Chart.yaml's own.
#   make images                                   # docker, else podman, else buildah
#   make images IMAGE_BUILDER=podman IMAGE_REGISTRY=myregistry.azurecr.io/kaito-py
#   make images-push                              # push the tags `make images` built
#   make charts-package                           # dist/charts/<chart>-<version>.tgz
.PHONY: images images-push charts-package release-version

VERSION := $(shell sed -n 's/^version = "\(.*\)"$$/\1/p' pyproject.toml | head -n 1)
IMAGE_REGISTRY ?= ghcr.io/kaito-py
IMAGE_TAG ?= $(VERSION)
IMAGE_NAMES := workspace-controller gpu-provisioner model-runtime
# The first of docker, podman, buildah on PATH; IMAGE_BUILDER=<command> overrides.
IMAGE_BUILDER ?= $(firstword $(foreach b,docker podman buildah,$(shell command -v $(b) >/dev/null 2>&1 && echo $(b))))
# buildah's verb is `build` as well (buildah >= 1.23; `bud` before). docker reads
# images/<name>/Dockerfile.dockerignore by itself; podman and buildah are given it.
IMAGE_BUILD_FLAGS ?=

CHARTS_DIST ?= dist/charts
CHART_NAMES := workspace-controller gpu-provisioner
HELM_VERSION := $(shell sed -n 's/^HELM_VERSION=//p' tools/localcluster/versions.env)
# The pinned helm `make localcluster-build` builds, else helm on PATH.
HELM ?= $(firstword $(wildcard $(or $(LOCALCLUSTER_CACHE),.cache)/bin/helm-$(HELM_VERSION)/helm) helm)

release-version:
	@echo $(VERSION)

define require_builder
	@if [ -z "$(IMAGE_BUILDER)" ]; then \
	  echo "make $@: no OCI image builder found: install docker, podman or buildah, or set IMAGE_BUILDER=<command>" >&2; \
	  exit 1; fi
endef

images:
	$(require_builder)
	@set -e; for name in $(IMAGE_NAMES); do \
	  ignore=images/$$name/Dockerfile.dockerignore; \
	  case "$(notdir $(IMAGE_BUILDER))" in docker) extra= ;; *) extra="--ignorefile $$ignore" ;; esac; \
	  echo "$(IMAGE_BUILDER) build $$extra -f images/$$name/Dockerfile -t $(IMAGE_REGISTRY)/$$name:$(IMAGE_TAG) ."; \
	  $(IMAGE_BUILDER) build $$extra $(IMAGE_BUILD_FLAGS) -f images/$$name/Dockerfile \
	    -t $(IMAGE_REGISTRY)/$$name:$(IMAGE_TAG) . ; \
	done

images-push:
	$(require_builder)
	@set -e; for name in $(IMAGE_NAMES); do \
	  echo "$(IMAGE_BUILDER) push $(IMAGE_REGISTRY)/$$name:$(IMAGE_TAG)"; \
	  $(IMAGE_BUILDER) push $(IMAGE_REGISTRY)/$$name:$(IMAGE_TAG); \
	done

# `helm push $(CHARTS_DIST)/<chart>-<version>.tgz oci://$(IMAGE_REGISTRY)/charts` publishes one.
charts-package:
	@mkdir -p $(CHARTS_DIST)
	@set -e; for chart in $(CHART_NAMES); do \
	  $(HELM) package charts/$$chart --app-version $(IMAGE_TAG) --destination $(CHARTS_DIST); \
	done
