{{/* The chart's name, or nameOverride. */}}
{{- define "chunkgc.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* The release's full name: the release name when it already contains the chart name. At most 63 characters. */}}
{{- define "chunkgc.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{- define "chunkgc.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Selector labels of the operator pods. The component keeps them apart from the run pods (component gc-run). */}}
{{- define "chunkgc.selectorLabels" -}}
app.kubernetes.io/name: {{ include "chunkgc.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/component: operator
{{- end }}

{{- define "chunkgc.labels" -}}
helm.sh/chart: {{ include "chunkgc.chart" . }}
{{ include "chunkgc.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/part-of: chunkgc
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}

{{/* Labels of objects that are not the operator itself (RBAC, the run ServiceAccount). */}}
{{- define "chunkgc.commonLabels" -}}
helm.sh/chart: {{ include "chunkgc.chart" . }}
app.kubernetes.io/name: {{ include "chunkgc.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/part-of: chunkgc
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}

{{- define "chunkgc.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "chunkgc.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- required "serviceAccount.name is required when serviceAccount.create is false" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{- define "chunkgc.runServiceAccountName" -}}
{{- default (include "chunkgc.fullnameWith" (list . "run")) .Values.runServiceAccount.name }}
{{- end }}

{{/* <full name>-<suffix>, the full name shortened so that the whole stays within 63 characters. Call with (list . "suffix"). */}}
{{- define "chunkgc.fullnameWith" -}}
{{- $root := index . 0 }}
{{- $suffix := index . 1 }}
{{- printf "%s-%s" (include "chunkgc.fullname" $root | trunc (int (sub 62 (len $suffix))) | trimSuffix "-") $suffix }}
{{- end }}

{{/* repository:tag or repository@digest; the tag defaults to the chart's appVersion. */}}
{{- define "chunkgc.image" -}}
{{- if .Values.image.digest }}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest }}
{{- else }}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) }}
{{- end }}
{{- end }}

{{/* "true" when the operator runs with --leader-elect. */}}
{{- define "chunkgc.leaderElect" -}}
{{- if or .Values.leaderElection.enabled (gt (int .Values.replicas) 1) }}true{{- end }}
{{- end }}

{{/*
The watched namespaces, validated: namespace names, each once. Empty: all namespaces.
*/}}
{{- define "chunkgc.watchNamespaces" -}}
{{- $seen := dict }}
{{- range .Values.watchNamespaces }}
{{- if not (regexMatch "^[a-z0-9]([-a-z0-9]*[a-z0-9])?$" (toString .)) }}
{{- fail (printf "watchNamespaces: %q is not a namespace name" (toString .)) }}
{{- end }}
{{- if hasKey $seen . }}
{{- fail (printf "watchNamespaces: %q is listed twice" .) }}
{{- end }}
{{- $_ := set $seen . true }}
{{- end }}
{{- join "," .Values.watchNamespaces }}
{{- end }}

{{/*
The rules the operator needs in every namespace it watches, exactly the API calls its code makes (a cluster test
compares them with the API server's audit log: no right unused, none missing):
watch GarbageCollections (list, watch) and merge-patch their status; create, read back (adoption, name conflicts),
watch and delete run Jobs; watch their pods; read a credentials Secret's keys (get) and watch Secrets as metadata only
(list, watch: the operator asks for PartialObjectMetadata, Secret data never reaches it; RBAC has no finer verb);
read, create and watch marker-cache claims; list a run Job's core Events (FailedCreate: why its pod cannot be
created); record events.k8s.io Events (create, patch for a series).
*/}}
{{- define "chunkgc.operatorRules" -}}
- apiGroups: ["chunkgc.io"]
  resources: ["garbagecollections"]
  verbs: ["list", "watch"]
- apiGroups: ["chunkgc.io"]
  resources: ["garbagecollections/status"]
  verbs: ["patch"]
- apiGroups: ["batch"]
  resources: ["jobs"]
  verbs: ["create", "get", "list", "watch", "delete"]
- apiGroups: [""]
  resources: ["pods"]
  verbs: ["list", "watch"]
# The tail of a running engine's log: its latest progress line goes into status.activeRun.progress.
- apiGroups: [""]
  resources: ["pods/log"]
  verbs: ["get"]
- apiGroups: [""]
  resources: ["secrets"]
  verbs: ["get", "list", "watch"]
- apiGroups: [""]
  resources: ["persistentvolumeclaims"]
  verbs: ["get", "create", "list", "watch"]
- apiGroups: [""]
  resources: ["events"]
  verbs: ["list"]
- apiGroups: ["events.k8s.io"]
  resources: ["events"]
  verbs: ["create", "patch"]
{{- end }}

{{/*
"true" when the CRD exists in the cluster without belonging to this release (installed from crds/ by an older chart,
by hand, or by another release): the chart then leaves it alone instead of failing on ownership. Empty in
`helm template` (no cluster).
*/}}
{{- define "chunkgc.crdForeign" -}}
{{- $existing := lookup "apiextensions.k8s.io/v1" "CustomResourceDefinition" "" "garbagecollections.chunkgc.io" }}
{{- if $existing }}
{{- if ne (dig "metadata" "annotations" "meta.helm.sh/release-name" "" $existing) .Release.Name }}true{{- end }}
{{- end }}
{{- end }}
