{{/* Chart name (nameOverride wins). */}}
{{- define "ocrbatch.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
Full name prefix of every object: fullnameOverride, else the release name when it already
contains the chart name, else <release>-<chart>. Kept at 46 characters so that the longest
suffix ("-operator-metrics") still fits a 63-character name.
*/}}
{{- define "ocrbatch.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 46 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 46 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 46 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{- define "ocrbatch.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Labels of every object (component added by the caller). */}}
{{- define "ocrbatch.labels" -}}
helm.sh/chart: {{ include "ocrbatch.chart" . }}
{{ include "ocrbatch.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: ocrbatch
{{- end }}

{{- define "ocrbatch.selectorLabels" -}}
app.kubernetes.io/name: {{ include "ocrbatch.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "ocrbatch.operatorName" -}}
{{- printf "%s-operator" (include "ocrbatch.fullname" .) }}
{{- end }}

{{- define "ocrbatch.workerName" -}}
{{- printf "%s-worker" (include "ocrbatch.fullname" .) }}
{{- end }}

{{- define "ocrbatch.operatorServiceAccount" -}}
{{- default (include "ocrbatch.operatorName" .) .Values.serviceAccount.name }}
{{- end }}

{{- define "ocrbatch.workerServiceAccount" -}}
{{- default (include "ocrbatch.workerName" .) .Values.worker.serviceAccount.name }}
{{- end }}

{{/* repository:tag (tag defaults to appVersion), or repository@digest. Argument: dict with
"image" (an image value) and "root" (the top context). */}}
{{- define "ocrbatch.image" -}}
{{- $tag := default .root.Chart.AppVersion .image.tag }}
{{- if eq $tag "latest" }}
{{- fail "image tags must be pinned: 'latest' is refused" }}
{{- end }}
{{- if .image.digest }}
{{- printf "%s@%s" .image.repository .image.digest }}
{{- else }}
{{- printf "%s:%s" .image.repository $tag }}
{{- end }}
{{- end }}

{{/* Namespaces that get the worker ServiceAccount, Role and RoleBinding (one per line). */}}
{{- define "ocrbatch.workerNamespaces" -}}
{{- $ns := list }}
{{- if .Values.watchNamespaces }}
{{- $ns = concat $ns .Values.watchNamespaces }}
{{- else }}
{{- $ns = append $ns .Release.Namespace }}
{{- end }}
{{- $ns = concat $ns .Values.worker.namespaces | uniq }}
{{- join "\n" $ns }}
{{- end }}

{{/*
The operator's API access, derived from what ocr-operator calls (operator/ocr_operator/
cluster.py, intake/ and kopf's event handlers):
- ocrbatches: kopf lists and watches them (event handlers), the reconciler gets one, the
  resync loop lists them, the intake creates one per ready drop folder; patch because kopf
  strips its own finalizer and annotations (kopf_settings.py: annotation storage) from an object
  when no handler needs them.
- ocrintakes: kopf lists and watches them, the intake gets and lists them; patch as above.
- ocrbatches/status, ocrintakes/status: the reconcilers merge-patch the status.
- ocrbatches/finalizers, ocrintakes/finalizers: update, which the OwnerReferencesPermission-
  Enforcement admission plugin requires to create an object whose owner reference has
  blockOwnerDeletion (kopf's default): the Jobs of a batch, the batches of an intake.
- jobs: kopf lists/watches the operator's Jobs; the reconciler lists, creates and patches
  them (spec.suspend). No delete: Jobs go with their batch through owner references.
- pods: read only, to find OOM-killed workers.
- events (core v1): the reconcilers and kopf post Events.
- secrets: get, by name only (rbac.credentialsSecrets): the S3 credentials of a batch or an
  intake, to list the source, merge the results and move drop folders.
*/}}
{{- define "ocrbatch.operatorRules" -}}
- apiGroups: ["ocrbatch.io"]
  resources: ["ocrbatches"]
  verbs: ["get", "list", "watch", "create", "patch"]
- apiGroups: ["ocrbatch.io"]
  resources: ["ocrintakes"]
  verbs: ["get", "list", "watch", "patch"]
- apiGroups: ["ocrbatch.io"]
  resources: ["ocrbatches/status", "ocrintakes/status"]
  verbs: ["get", "patch"]
- apiGroups: ["ocrbatch.io"]
  resources: ["ocrbatches/finalizers", "ocrintakes/finalizers"]
  verbs: ["update"]
- apiGroups: ["batch"]
  resources: ["jobs"]
  verbs: ["get", "list", "watch", "create", "patch"]
- apiGroups: [""]
  resources: ["pods"]
  verbs: ["get", "list", "watch"]
- apiGroups: [""]
  resources: ["events"]
  verbs: ["create", "patch"]
# Each batch's worker identity (jobs.worker_identity): a ServiceAccount of its own, with no
# permission and no token (workers never call the API). No Role or RoleBinding is made.
- apiGroups: [""]
  resources: ["serviceaccounts"]
  verbs: ["get", "create"]
{{- with .Values.rbac.credentialsSecrets }}
- apiGroups: [""]
  resources: ["secrets"]
  resourceNames: {{ toJson . }}
  verbs: ["get"]
{{- end }}
{{- end }}
