{{/* Name of every namespaced object and prefix of the cluster-scoped ones. */}}
{{- define "wc.fullname" -}}
{{- if contains .Chart.Name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{- define "wc.selectorLabels" -}}
app.kubernetes.io/name: {{ .Chart.Name }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "wc.labels" -}}
{{ include "wc.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{- with .Values.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- end -}}

{{/* The controller's ServiceAccount: serviceAccount.name, else the full name. */}}
{{- define "wc.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- .Values.serviceAccount.name | default (include "wc.fullname" .) -}}
{{- else -}}
{{- required "serviceAccount.create is false: set serviceAccount.name to an existing ServiceAccount" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{/* Every workspace_controller.settings field as WORKSPACE_CONTROLLER_<GROUP>_<FIELD>. */}}
{{- define "wc.settingsEnv" -}}
{{- $c := .Values.controller -}}
{{- $p := .Values.provisioning -}}
{{- $i := .Values.images -}}
- name: WORKSPACE_CONTROLLER_CONTROLLER_MAX_CONCURRENT_RECONCILES
  value: {{ $c.maxConcurrentReconciles | int64 | quote }}
- name: WORKSPACE_CONTROLLER_CONTROLLER_NAMESPACE
  value: {{ .Release.Namespace | quote }}
- name: WORKSPACE_CONTROLLER_CONTROLLER_LEADER_ELECT
  value: {{ $c.leaderElect | quote }}
- name: WORKSPACE_CONTROLLER_CONTROLLER_LEASE_NAME
  value: {{ $c.leaseName | quote }}
- name: WORKSPACE_CONTROLLER_CONTROLLER_LEASE_DURATION_SECONDS
  value: {{ $c.leaseDurationSeconds | float64 | quote }}
- name: WORKSPACE_CONTROLLER_CONTROLLER_RENEW_DEADLINE_SECONDS
  value: {{ $c.renewDeadlineSeconds | float64 | quote }}
- name: WORKSPACE_CONTROLLER_CONTROLLER_RETRY_PERIOD_SECONDS
  value: {{ $c.retryPeriodSeconds | float64 | quote }}
- name: WORKSPACE_CONTROLLER_CONTROLLER_PROBE_BIND_HOST
  value: {{ $c.probeBindHost | quote }}
- name: WORKSPACE_CONTROLLER_CONTROLLER_PROBE_PORT
  value: {{ $c.probePort | int64 | quote }}
- name: WORKSPACE_CONTROLLER_CONTROLLER_LOG_LEVEL
  value: {{ $c.logLevel | quote }}
- name: WORKSPACE_CONTROLLER_CONTROLLER_LOG_JSON
  value: {{ $c.logJson | quote }}
- name: WORKSPACE_CONTROLLER_PROVISIONING_NODE_PROVISIONING_API
  value: {{ $p.nodeProvisioningApi | quote }}
- name: WORKSPACE_CONTROLLER_PROVISIONING_NODE_CLASS_GROUP
  value: {{ $p.nodeClassGroup | quote }}
- name: WORKSPACE_CONTROLLER_PROVISIONING_NODE_CLASS_KIND
  value: {{ $p.nodeClassKind | quote }}
- name: WORKSPACE_CONTROLLER_PROVISIONING_NODE_CLASS_NAME
  value: {{ $p.nodeClassName | quote }}
- name: WORKSPACE_CONTROLLER_PROVISIONING_NODE_POOL_NAME
  value: {{ $p.nodePoolName | quote }}
- name: WORKSPACE_CONTROLLER_PROVISIONING_PROVISIONER_NAME
  value: {{ $p.provisionerName | quote }}
- name: WORKSPACE_CONTROLLER_PROVISIONING_DEFAULT_NODE_IMAGE_FAMILY
  value: {{ $p.defaultNodeImageFamily | quote }}
- name: WORKSPACE_CONTROLLER_PROVISIONING_DEFAULT_STORAGE_GIB
  value: {{ $p.defaultStorageGib | int64 | quote }}
- name: WORKSPACE_CONTROLLER_PROVISIONING_NODE_READY_POLL_SECONDS
  value: {{ $p.nodeReadyPollSeconds | float64 | quote }}
- name: WORKSPACE_CONTROLLER_PROVISIONING_MAX_NODES_PER_WORKSPACE
  value: {{ $p.maxNodesPerWorkspace | int64 | quote }}
- name: WORKSPACE_CONTROLLER_IMAGES_REGISTRY
  value: {{ $i.registry | quote }}
- name: WORKSPACE_CONTROLLER_IMAGES_PULL_POLICY
  value: {{ $i.pullPolicy | quote }}
- name: WORKSPACE_CONTROLLER_IMAGES_DATA_DOWNLOADER
  value: {{ $i.dataDownloader | quote }}
- name: WORKSPACE_CONTROLLER_IMAGES_IMAGE_PULLER
  value: {{ $i.imagePuller | quote }}
- name: WORKSPACE_CONTROLLER_IMAGES_ADAPTER_PUSHER
  value: {{ $i.adapterPusher | quote }}
{{- end -}}

{{/* repository:tag, or repository@digest when the digest is set. Takes an image value map. */}}
{{- define "wc.image" -}}
{{- if .digest -}}
{{- printf "%s@%s" .repository .digest -}}
{{- else -}}
{{- printf "%s:%s" .repository .tag -}}
{{- end -}}
{{- end -}}
