{{/* Every gpu_provisioner.settings field as GPU_PROVISIONER_<GROUP>_<FIELD>. */}}
{{- define "gp.settingsEnv" -}}
- name: GPU_PROVISIONER_AZURE_SUBSCRIPTION_ID
  value: {{ include "gp.requiredAzure" (list . "subscriptionId") | quote }}
- name: GPU_PROVISIONER_AZURE_RESOURCE_GROUP
  value: {{ include "gp.requiredAzure" (list . "resourceGroup") | quote }}
- name: GPU_PROVISIONER_AZURE_CLUSTER_NAME
  value: {{ include "gp.requiredAzure" (list . "clusterName") | quote }}
- name: GPU_PROVISIONER_AZURE_LOCATION
  value: {{ include "gp.requiredAzure" (list . "location") | quote }}
- name: GPU_PROVISIONER_AZURE_ARM_BASE_URL
  value: {{ .Values.azure.armBaseUrl | quote }}
- name: GPU_PROVISIONER_AZURE_CONNECTION_VERIFY
  value: {{ .Values.azure.connectionVerify | quote }}
- name: GPU_PROVISIONER_AZURE_POLLING_INTERVAL_SECONDS
  value: {{ .Values.azure.pollingIntervalSeconds | float64 | quote }}
- name: GPU_PROVISIONER_AZURE_RETRY_TOTAL
  value: {{ .Values.azure.retryTotal | int64 | quote }}
- name: GPU_PROVISIONER_AZURE_RETRY_BACKOFF_FACTOR
  value: {{ .Values.azure.retryBackoffFactor | float64 | quote }}
- name: GPU_PROVISIONER_AZURE_CHECK_QUOTA
  value: {{ .Values.azure.checkQuota | quote }}
- name: GPU_PROVISIONER_PROVISIONING_SERVE_NODECLAIMS
  value: {{ .Values.provisioning.serveNodeclaims | quote }}
- name: GPU_PROVISIONER_PROVISIONING_SERVE_MACHINES
  value: {{ .Values.provisioning.serveMachines | quote }}
- name: GPU_PROVISIONER_PROVISIONING_NODE_CLASS_GROUP
  value: {{ .Values.provisioning.nodeClassGroup | quote }}
- name: GPU_PROVISIONER_PROVISIONING_NODE_CLASS_KIND
  value: {{ .Values.provisioning.nodeClassKind | quote }}
- name: GPU_PROVISIONER_PROVISIONING_MANAGED_LABELS
  value: {{ .Values.provisioning.managedLabels | join "," | quote }}
- name: GPU_PROVISIONER_PROVISIONING_OWNER
  value: {{ .Values.provisioning.owner | quote }}
- name: GPU_PROVISIONER_PROVISIONING_NODEPOOL_LABEL_VALUE
  value: {{ .Values.provisioning.nodepoolLabelValue | quote }}
- name: GPU_PROVISIONER_PROVISIONING_PROVISIONER_NAME_LABEL_VALUE
  value: {{ .Values.provisioning.provisionerNameLabelValue | quote }}
- name: GPU_PROVISIONER_PROVISIONING_DEFAULT_OS_DISK_SIZE_GIB
  value: {{ .Values.provisioning.defaultOsDiskSizeGib | int64 | quote }}
- name: GPU_PROVISIONER_PROVISIONING_LAUNCH_TIMEOUT_SECONDS
  value: {{ .Values.provisioning.launchTimeoutSeconds | float64 | quote }}
- name: GPU_PROVISIONER_PROVISIONING_REGISTRATION_TIMEOUT_SECONDS
  value: {{ .Values.provisioning.registrationTimeoutSeconds | float64 | quote }}
- name: GPU_PROVISIONER_PROVISIONING_TERMINATION_GRACE_PERIOD_SECONDS
  value: {{ .Values.provisioning.terminationGracePeriodSeconds | float64 | quote }}
- name: GPU_PROVISIONER_PROVISIONING_POLL_INTERVAL_SECONDS
  value: {{ .Values.provisioning.pollIntervalSeconds | float64 | quote }}
- name: GPU_PROVISIONER_PROVISIONING_NODE_WAIT_SECONDS
  value: {{ .Values.provisioning.nodeWaitSeconds | float64 | quote }}
- name: GPU_PROVISIONER_PROVISIONING_ERROR_REQUEUE_SECONDS
  value: {{ .Values.provisioning.errorRequeueSeconds | float64 | quote }}
- name: GPU_PROVISIONER_PROVISIONING_GC_INTERVAL_SECONDS
  value: {{ .Values.provisioning.gcIntervalSeconds | float64 | quote }}
- name: GPU_PROVISIONER_PROVISIONING_GC_GRACE_SECONDS
  value: {{ .Values.provisioning.gcGraceSeconds | float64 | quote }}
- name: GPU_PROVISIONER_CONTROLLER_MAX_CONCURRENT_RECONCILES
  value: {{ .Values.controller.maxConcurrentReconciles | int64 | quote }}
- name: GPU_PROVISIONER_CONTROLLER_NAMESPACE
  value: {{ .Release.Namespace | quote }}
- name: GPU_PROVISIONER_CONTROLLER_LEADER_ELECT
  value: {{ .Values.controller.leaderElect | quote }}
- name: GPU_PROVISIONER_CONTROLLER_LEASE_NAME
  value: {{ .Values.controller.leaseName | quote }}
- name: GPU_PROVISIONER_CONTROLLER_LEASE_DURATION_SECONDS
  value: {{ .Values.controller.leaseDurationSeconds | int64 | quote }}
- name: GPU_PROVISIONER_CONTROLLER_RENEW_DEADLINE_SECONDS
  value: {{ .Values.controller.renewDeadlineSeconds | int64 | quote }}
- name: GPU_PROVISIONER_CONTROLLER_RETRY_PERIOD_SECONDS
  value: {{ .Values.controller.retryPeriodSeconds | int64 | quote }}
- name: GPU_PROVISIONER_CONTROLLER_PROBE_BIND_HOST
  value: {{ .Values.controller.probeBindHost | quote }}
- name: GPU_PROVISIONER_CONTROLLER_PROBE_PORT
  value: {{ .Values.controller.probePort | int64 | quote }}
- name: GPU_PROVISIONER_CONTROLLER_LOG_LEVEL
  value: {{ .Values.controller.logLevel | quote }}
- name: GPU_PROVISIONER_CONTROLLER_LOG_JSON
  value: {{ .Values.controller.logJson | quote }}
{{- end -}}


{{/* azure.<name>, required (non-empty) when a provisioner runs (replicaCount > 0): the AKS cluster
     it manages. With replicaCount 0 the env only documents settings, so empty is accepted. */}}
{{- define "gp.requiredAzure" -}}
{{- $root := index . 0 -}}
{{- $name := index . 1 -}}
{{- $value := index $root.Values.azure $name -}}
{{- if gt (int $root.Values.replicaCount) 0 -}}
{{- required (printf "azure.%s is required: the AKS cluster's (see the chart README; az aks show)" $name) $value -}}
{{- else -}}
{{- $value -}}
{{- end -}}
{{- end -}}
