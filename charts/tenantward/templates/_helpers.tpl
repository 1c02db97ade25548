{{/* Names: <release>-tenantward unless the release is already called tenantward. */}}
{{- define "tenantward.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "tenantward.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- $name := default .Chart.Name .Values.nameOverride -}}
{{- if contains $name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{- define "tenantward.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
app.kubernetes.io/name: {{ include "tenantward.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/part-of: tenantward
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- with .Values.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- end -}}

{{/* Selector labels of one component: manager or verifier. */}}
{{- define "tenantward.selectorLabels" -}}
app.kubernetes.io/name: {{ include "tenantward.name" .root }}
app.kubernetes.io/instance: {{ .root.Release.Name }}
app.kubernetes.io/component: {{ .component }}
{{- end -}}

{{- define "tenantward.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "tenantward.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- required "serviceAccount.name is required when serviceAccount.create is false" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{- define "tenantward.verifierServiceAccountName" -}}
{{- default (printf "%s-verifier" (include "tenantward.fullname" .)) .Values.verifier.serviceAccount.name -}}
{{- end -}}

{{- define "tenantward.image" -}}
{{- if .Values.image.digest -}}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest -}}
{{- else -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) -}}
{{- end -}}
{{- end -}}

{{- define "tenantward.webhookServiceName" -}}
{{- printf "%s-webhook" (include "tenantward.fullname" .) -}}
{{- end -}}

{{/* The tenant view is served with the webhook certificate: only with the webhooks. */}}
{{- define "tenantward.tenantViewEnabled" -}}
{{- if and .Values.tenantView.enabled .Values.webhook.enabled }}true{{ end -}}
{{- end -}}

{{- define "tenantward.tenantViewServiceName" -}}
{{- printf "%s-tenant-view" (include "tenantward.fullname" .) -}}
{{- end -}}

{{- define "tenantward.webhookSecretName" -}}
{{- default (printf "%s-webhook-tls" (include "tenantward.fullname" .)) .Values.webhook.certificate.secretName -}}
{{- end -}}

{{/*
The namespaces the webhooks skip, as JSON: kube-system, the release namespace
and webhook.excludeNamespaces. One source for the webhook configuration's
namespaceSelector and the operator configuration's excludedNamespaces (which
no Organization or Workspace may use).
Usage: include "tenantward.excludedNamespaces" . | fromJsonArray
*/}}
{{- define "tenantward.excludedNamespaces" -}}
{{- concat (list "kube-system" .Release.Namespace) .Values.webhook.excludeNamespaces | uniq | toJson -}}
{{- end -}}

{{- define "tenantward.verifierEmbedded" -}}
{{- if eq .Values.verifier.mode "embedded" }}true{{ end -}}
{{- end -}}

{{/*
Documents of a generated multi-document YAML file under files/, decoded.
Usage: include "tenantward.documents" (dict "root" . "path" "files/rbac/role.yaml") | fromYamlArray
*/}}
{{- define "tenantward.documents" -}}
{{- $docs := list -}}
{{- range regexSplit "(?m)^---\\s*$" (.root.Files.Get .path) -1 -}}
{{- if trim . -}}
{{- $docs = append $docs (fromYaml .) -}}
{{- end -}}
{{- end -}}
{{- toYaml $docs -}}
{{- end -}}

{{/* The pod-level scheduling settings shared by the manager and the verifier. */}}
{{- define "tenantward.scheduling" -}}
{{- $v := .values -}}
{{- with $v.priorityClassName }}
priorityClassName: {{ . }}
{{- end }}
{{- with $v.nodeSelector }}
nodeSelector:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with $v.tolerations }}
tolerations:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with $v.affinity }}
affinity:
  {{- toYaml . | nindent 2 }}
{{- end }}
topologySpreadConstraints:
{{- if $v.topologySpreadConstraints }}
  {{- toYaml $v.topologySpreadConstraints | nindent 2 }}
{{- else }}
{{- range list "kubernetes.io/hostname" "topology.kubernetes.io/zone" }}
  - maxSkew: 1
    topologyKey: {{ . }}
    whenUnsatisfiable: ScheduleAnyway
    labelSelector:
      matchLabels:
        {{- include "tenantward.selectorLabels" (dict "root" $.root "component" $.component) | nindent 8 }}
{{- end }}
{{- end }}
{{- end -}}

{{/* A PodDisruptionBudget for one component. */}}
{{- define "tenantward.pdb" -}}
{{- $pdb := .values.podDisruptionBudget -}}
{{- if and $pdb.enabled (gt (int .values.replicas) 1) }}
---
apiVersion: policy/v1
kind: PodDisruptionBudget
metadata:
  name: {{ include "tenantward.fullname" .root }}-{{ .component }}
  namespace: {{ .root.Release.Namespace }}
  labels:
    {{- include "tenantward.labels" .root | nindent 4 }}
spec:
  {{- if not (kindIs "invalid" $pdb.maxUnavailable) }}
  maxUnavailable: {{ $pdb.maxUnavailable }}
  {{- else }}
  minAvailable: {{ $pdb.minAvailable }}
  {{- end }}
  selector:
    matchLabels:
      {{- include "tenantward.selectorLabels" (dict "root" .root "component" .component) | nindent 6 }}
{{- end }}
{{- end -}}
