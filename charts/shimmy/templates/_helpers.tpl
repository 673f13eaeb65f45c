{{/*
The chart name: "shimmy", or nameOverride. 63 characters at most (a label value).
*/}}
{{- define "shimmy.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
The prefix of every resource name: fullnameOverride, else the release name when it already
contains the chart name, else RELEASE-NAME. Truncated to 46 characters so that the longest
suffix ("-scheduler-config", 17 characters) keeps names within 63.
*/}}
{{- define "shimmy.fullname" -}}
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

{{/*
chart-version, for the helm.sh/chart label.
*/}}
{{- define "shimmy.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
Selector labels of one component; they never change, as selectors are immutable.
Call as: include "shimmy.selectorLabels" (dict "ctx" $ "component" "controller")
*/}}
{{- define "shimmy.selectorLabels" -}}
app.kubernetes.io/name: {{ include "shimmy.name" .ctx }}
app.kubernetes.io/instance: {{ .ctx.Release.Name }}
app.kubernetes.io/component: {{ .component }}
{{- end }}

{{/*
All the standard labels of one component.
Call as: include "shimmy.labels" (dict "ctx" $ "component" "controller")
*/}}
{{- define "shimmy.labels" -}}
helm.sh/chart: {{ include "shimmy.chart" .ctx }}
{{ include "shimmy.selectorLabels" . }}
app.kubernetes.io/version: {{ .ctx.Chart.AppVersion | quote }}
app.kubernetes.io/part-of: shimmy
app.kubernetes.io/managed-by: {{ .ctx.Release.Service }}
{{- end }}

{{/* Component names, all built from the fullname. */}}
{{- define "shimmy.controllerName" -}}{{ include "shimmy.fullname" . }}-controller{{- end }}
{{- define "shimmy.agentName" -}}{{ include "shimmy.fullname" . }}-agent{{- end }}
{{- define "shimmy.replicationKeySecretName" -}}{{ .Values.agent.replication.keySecret | default (printf "%s-replication-key" (include "shimmy.fullname" .)) }}{{- end }}
{{- define "shimmy.schedulerName" -}}{{ include "shimmy.fullname" . }}-scheduler{{- end }}
{{- define "shimmy.extenderServiceName" -}}{{ include "shimmy.fullname" . }}-extender{{- end }}
{{- define "shimmy.webhookConfigMapName" -}}{{ include "shimmy.fullname" . }}-webhook-config{{- end }}
{{- define "shimmy.schedulerConfigMapName" -}}{{ include "shimmy.fullname" . }}-scheduler-config{{- end }}
{{- define "shimmy.extenderConfigMapName" -}}{{ include "shimmy.fullname" . }}-extender-config{{- end }}
{{- define "shimmy.webhookCertName" -}}{{ include "shimmy.fullname" . }}-webhook{{- end }}
{{- /* The Secret with the webhook's CA and serving certificate: cert-manager's, or the controller's own. */}}
{{- define "shimmy.webhookTLSSecret" -}}
{{- if .Values.webhook.certManager.enabled }}{{ include "shimmy.fullname" . }}-webhook-tls{{ else }}shimmy-webhook-tls{{ end }}
{{- end }}
{{- /* The scheduler's client certificate for the extender: the controller's Secret, or cert-manager's. */}}
{{- define "shimmy.extenderClientSecret" -}}
{{- if .Values.webhook.certManager.enabled }}{{ include "shimmy.fullname" . }}-extender-client{{ else }}shimmy-extender-client{{ end }}
{{- end }}
{{- /* Where the scheduler finds that Secret's tls.crt, tls.key and ca.crt. */}}
{{- define "shimmy.extenderClientDir" -}}/etc/shimmy-extender-client{{- end }}
{{- define "shimmy.uninstallName" -}}{{ include "shimmy.fullname" . }}-uninstall{{- end }}

{{/*
The Shimmy image, repository:tag.
*/}}
{{- define "shimmy.image" -}}
{{- printf "%s:%s" .Values.image.repository .Values.image.tag }}
{{- end }}

{{/*
The schedulerName the webhook sets on patched pods: the second scheduler's, or "" (leave
schedulerName alone) when the extender is added to the cluster's own scheduler.
*/}}
{{- define "shimmy.podSchedulerName" -}}
{{- if eq .Values.scheduler.mode "deployment" }}{{ .Values.scheduler.name }}{{ end }}
{{- end }}

{{/*
The URL prefix the scheduler calls the extender at: scheduler.extenderURL; else the extender
Service's fixed ClusterIP when one is set (a cluster without DNS); else its DNS name. HTTPS
unless controller.extenderInsecureHTTP.
*/}}
{{- define "shimmy.extenderURL" -}}
{{- $scheme := ternary "http" "https" .Values.controller.extenderInsecureHTTP }}
{{- if .Values.scheduler.extenderURL }}
{{- .Values.scheduler.extenderURL }}
{{- else if .Values.controller.extenderService.clusterIP }}
{{- printf "%s://%s:8888/" $scheme .Values.controller.extenderService.clusterIP }}
{{- else }}
{{- printf "%s://%s.%s.svc:8888/" $scheme (include "shimmy.extenderServiceName" .) .Release.Namespace }}
{{- end }}
{{- end }}

{{/*
The extender entry of a KubeSchedulerConfiguration (as scheduler-config/shimmy-scheduler.yaml).
*/}}
{{- define "shimmy.extenders" -}}
extenders:
  - urlPrefix: {{ include "shimmy.extenderURL" . | quote }}
    {{- if not .Values.controller.extenderInsecureHTTP }}
    # The extender accepts only client certificates signed by the controller's CA: this one
    # is the Secret {{ include "shimmy.extenderClientSecret" . }}, mounted here. kube-scheduler rereads the
    # certificate and key when they change (renewal); caFile it reads at start.
    tlsConfig:
      certFile: {{ include "shimmy.extenderClientDir" . }}/tls.crt
      keyFile: {{ include "shimmy.extenderClientDir" . }}/tls.key
      caFile: {{ include "shimmy.extenderClientDir" . }}/ca.crt
    {{- end }}
    filterVerb: filter
    prioritizeVerb: prioritize
    # Extender scores are 0..10 and are multiplied by weight x 10; at 10 they outweigh
    # the default plugins' spreading, so pods sharing a channel land together.
    weight: 10
    # The extender keeps its own node cache; the scheduler sends names, not Node objects.
    nodeCacheCapable: true
    # If the extender is down, schedule without it rather than not at all.
    ignorable: true
    httpTimeout: 2s
{{- end }}

{{/*
The pod-level securityContext of the non-root Shimmy pods (controller, uninstall Job).
*/}}
{{- define "shimmy.nonRootPodSecurityContext" -}}
# The image's user "shimmy" (see the Dockerfile).
runAsNonRoot: true
runAsUser: 10001
runAsGroup: 10001
seccompProfile:
  type: RuntimeDefault
{{- end }}

{{/*
The container-level securityContext of the non-root Shimmy containers.
*/}}
{{- define "shimmy.nonRootContainerSecurityContext" -}}
runAsNonRoot: true
runAsUser: 10001
runAsGroup: 10001
readOnlyRootFilesystem: true
allowPrivilegeEscalation: false
capabilities:
  drop: [ALL]
seccompProfile:
  type: RuntimeDefault
{{- end }}

{{/*
uninstall.timeout ("90s", "2m", "1h") in seconds.
*/}}
{{- define "shimmy.uninstallTimeoutSeconds" -}}
{{- $t := .Values.uninstall.timeout }}
{{- $n := regexReplaceAll "[smh]$" $t "" | int }}
{{- if hasSuffix "h" $t }}{{ mul $n 3600 }}{{ else if hasSuffix "m" $t }}{{ mul $n 60 }}{{ else }}{{ $n }}{{ end }}
{{- end }}
