{{/*
Names and labels shared by every template.
The operator's objects carry app.kubernetes.io/name=raftkv-operator, never "raftkv": the operator watches
pods labelled app.kubernetes.io/name=raftkv (its node pods), and the node PodMonitor selects them too.
*/}}

{{/* The chart name, or nameOverride. */}}
{{- define "raftkv.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* `<release>-<name>`, or the release name when it already holds the name; fullnameOverride replaces it. */}}
{{- define "raftkv.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 54 | trimSuffix "-" }}
{{- else }}
{{- $name := include "raftkv.name" . }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 54 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 54 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{/* Name of the operator's Deployment, Service, roles and bindings (at most 63 characters). */}}
{{- define "raftkv.operatorName" -}}
{{- printf "%s-operator" (include "raftkv.fullname" .) }}
{{- end }}

{{/* helm.sh/chart: name-version. */}}
{{- define "raftkv.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Labels of every object the chart creates (the component label is added per object). */}}
{{- define "raftkv.labels" -}}
helm.sh/chart: {{ include "raftkv.chart" . }}
app.kubernetes.io/name: {{ include "raftkv.name" . }}-operator
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: raftkv
{{- end }}

{{/* The operator pods' selector (immutable on the Deployment: never change it). */}}
{{- define "raftkv.selectorLabels" -}}
app.kubernetes.io/name: {{ include "raftkv.name" . }}-operator
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/component: operator
{{- end }}

{{/* The operator's ServiceAccount. */}}
{{- define "raftkv.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "raftkv.operatorName" .) .Values.serviceAccount.name }}
{{- else }}
{{- required "serviceAccount.name is required when serviceAccount.create is false" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/* Name of the leader-election Lease. */}}
{{- define "raftkv.leaseName" -}}
{{- default (include "raftkv.operatorName" .) .Values.operator.leaderElection.id }}
{{- end }}

{{/* The operator image reference. */}}
{{- define "raftkv.operatorImage" -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) }}
{{- end }}

{{/* NODE_IMAGE: the node image reference. */}}
{{- define "raftkv.nodeImage" -}}
{{- printf "%s:%s" .Values.nodeImage.repository (default .Chart.AppVersion .Values.nodeImage.tag) }}
{{- end }}

{{/* The Prometheus rule groups of rules/raftkv-alerts.yaml; empty when the file is absent or has none. */}}
{{- define "raftkv.ruleGroups" -}}
{{- $text := .Files.Get "rules/raftkv-alerts.yaml" }}
{{- if $text }}
{{- $doc := fromYaml $text }}
{{- if hasKey $doc "Error" }}
{{- fail (printf "charts/raftkv/rules/raftkv-alerts.yaml is not valid YAML: %s" $doc.Error) }}
{{- end }}
{{- with $doc.groups }}
{{- toYaml . }}
{{- end }}
{{- end }}
{{- end }}

{{/* Names of the RaftKVs the NetworkPolicies protect: networkPolicy.instances plus cluster.name when enabled. */}}
{{- define "raftkv.networkPolicyInstances" -}}
{{- $names := .Values.networkPolicy.instances }}
{{- if and .Values.cluster.enabled (not (has .Values.cluster.name $names)) }}
{{- $names = append $names .Values.cluster.name }}
{{- end }}
{{- toJson $names }}
{{- end }}

{{/* Labels of the node pods of the RaftKV named by the argument (every RaftKV when it is ""). */}}
{{- define "raftkv.memberLabels" -}}
app.kubernetes.io/name: raftkv
app.kubernetes.io/component: node
{{- with . }}
app.kubernetes.io/instance: {{ . }}
{{- end }}
{{- end }}
