"""Pure manifest builders: a Workspace (plus catalog entries and settings) in, JSON dicts out.

Contract: every function here is pure. It reads only its arguments, does no I/O, reads no clock
and no environment, logs nothing and imports no Kubernetes client; an import-linter contract keeps
it that way. Each builder takes keyword-only arguments after the Workspace and returns a fresh,
plain ``dict`` in the API server's camelCase wire form, ready to be created or replaced. The same
inputs always give the same output, which is what lets the reconciler compare revisions and lets
the tests pin every field without a cluster.

A builder that is handed something it cannot turn into a valid object (a tuning URL pointing at a
private address, a Workspace without a namespace) raises ``ValueError`` with a message meant for
the user; the reconciler turns it into a status condition.

Modules:

- :mod:`~workspace_controller.manifests.common`: labels, owner reference, tolerations, node
  affinity, the spec hash, and the runtime contract (paths and ports) the workloads share.
- :mod:`~workspace_controller.manifests.claims`: Karpenter NodeClaim (v1) and Machine (v1alpha5).
- :mod:`~workspace_controller.manifests.tuning`: the fine-tuning Job and its config ConfigMap.
- :mod:`~workspace_controller.manifests.inference`: the Services and the serving workload.
- :mod:`~workspace_controller.manifests.urls`: the check that keeps tuning downloads off private
  addresses.
- :mod:`~workspace_controller.manifests.scripts`: the shell scripts the helper containers run.
"""
