{{/*
Helpers. The templates marked "embeddable" take a context with .Values (this chart's values) and
.Release, so another chart can add the sidecar to its own pods:

  {{- $logSidecar := dict "Values" (index .Values "log-sidecar") "Release" .Release }}
  containers:
    {{- include "log-sidecar.container" $logSidecar | nindent 4 }}
  volumes:
    {{- include "log-sidecar.volumes" $logSidecar | nindent 4 }}

Inside this chart they are called with the root context ".". helm/examples/ shows a complete chart.
*/}}

{{/* Chart name. */}}
{{- define "log-sidecar.name" -}}
{{- default "log-sidecar" .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
Full name: <release>-<name>, or the release name when it already contains the name.
The chart name is spelled out (not .Chart.Name) so the embeddable templates compute the same names.
*/}}
{{- define "log-sidecar.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- $name := default "log-sidecar" .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{/* Chart label value. */}}
{{- define "log-sidecar.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Full labels of every resource. */}}
{{- define "log-sidecar.labels" -}}
helm.sh/chart: {{ include "log-sidecar.chart" . }}
{{ include "log-sidecar.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: log-sidecar
{{- with .Values.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- end }}

{{/* Selector labels: stable, kept apart from the full labels. */}}
{{- define "log-sidecar.selectorLabels" -}}
app.kubernetes.io/name: {{ include "log-sidecar.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{/* Whether the pod log source is on: "true" or "". */}}
{{- define "log-sidecar.podSourceOn" -}}
{{- if ne (toString .Values.podSource.mode) "off" }}true{{ end }}
{{- end }}

{{/* ServiceAccount name (only meaningful when the pod source is on). embeddable */}}
{{- define "log-sidecar.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "log-sidecar.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/* Name of the Secret holding the auth secret. */}}
{{- define "log-sidecar.authSecretName" -}}
{{- default (printf "%s-auth" (include "log-sidecar.fullname" .)) .Values.auth.existingSecret }}
{{- end }}

{{/* Key of the auth secret in that Secret. */}}
{{- define "log-sidecar.authSecretKey" -}}
{{- if .Values.auth.existingSecret }}{{ .Values.auth.existingSecretKey }}{{ else }}secret{{ end }}
{{- end }}

{{/* Sidecar image reference. embeddable */}}
{{- define "log-sidecar.image" -}}
{{- if .Values.image.digest }}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest }}
{{- else }}
{{- printf "%s:%s" .Values.image.repository (toString (default .Chart.AppVersion .Values.image.tag)) }}
{{- end }}
{{- end }}

{{/* Glob patterns of the file source. */}}
{{- define "log-sidecar.files" -}}
{{- if .Values.logs.files }}
{{- join "," .Values.logs.files }}
{{- else if .Values.logs.dir }}
{{- printf "%s/*.log" (trimSuffix "/" .Values.logs.dir) }}
{{- end }}
{{- end }}

{{/* Check value combinations that the schema cannot express. */}}
{{- define "log-sidecar.validate" -}}
{{- if and (eq (toString .Values.podSource.mode) "selector") (not .Values.podSource.selector) }}
{{- fail "podSource.mode=selector needs podSource.selector (e.g. app=web)" }}
{{- end }}
{{- if and (not (include "log-sidecar.files" .)) (not (include "log-sidecar.podSourceOn" .)) }}
{{- fail "nothing to follow: set logs.dir (or logs.files), or podSource.mode" }}
{{- end }}
{{- if and (ne .Values.auth.mode "none") .Values.auth.existingSecret (not .Values.auth.existingSecretKey) }}
{{- fail "auth.existingSecret needs auth.existingSecretKey" }}
{{- end }}
{{- if and .Values.metrics.requireAuth (eq .Values.auth.mode "none") }}
{{- fail "metrics.requireAuth needs auth.mode bearer or basic" }}
{{- end }}
{{- end }}

{{/*
Environment of the sidecar container: only LOG_SIDECAR_* names that sidecar/config.py reads.
*/}}
{{- define "log-sidecar.env" -}}
- name: LOG_SIDECAR_HOST
  value: "0.0.0.0"
- name: LOG_SIDECAR_PORT
  value: {{ .Values.sidecar.port | quote }}
{{- with include "log-sidecar.files" . }}
- name: LOG_SIDECAR_FILES
  value: {{ . | quote }}
{{- end }}
{{- if include "log-sidecar.podSourceOn" . }}
- name: LOG_SIDECAR_POD_SOURCE
  value: {{ .Values.podSource.mode | quote }}
- name: LOG_SIDECAR_POD_NAME
  valueFrom:
    fieldRef:
      fieldPath: metadata.name
- name: LOG_SIDECAR_POD_NAMESPACE
  valueFrom:
    fieldRef:
      fieldPath: metadata.namespace
- name: LOG_SIDECAR_POD_SELF_CONTAINER
  value: {{ .Values.sidecar.name | quote }}
{{- with .Values.podSource.selector }}
- name: LOG_SIDECAR_POD_SELECTOR
  value: {{ . | quote }}
{{- end }}
{{- with .Values.podSource.containers }}
- name: LOG_SIDECAR_POD_CONTAINERS
  value: {{ join "," . | quote }}
{{- end }}
{{- end }}
{{- /* Always explicit: the sidecar refuses to listen on 0.0.0.0 without a LOG_SIDECAR_AUTH choice. */}}
- name: LOG_SIDECAR_AUTH
  value: {{ .Values.auth.mode | quote }}
{{- if ne .Values.auth.mode "none" }}
- name: LOG_SIDECAR_AUTH_SECRET_FILE
  value: /etc/log-sidecar/auth/secret
{{- if eq .Values.auth.mode "basic" }}
- name: LOG_SIDECAR_AUTH_USERNAME
  value: {{ .Values.auth.username | quote }}
{{- end }}
{{- end }}
{{- if .Values.metrics.requireAuth }}
- name: LOG_SIDECAR_METRICS_AUTH
  value: "true"
{{- end }}
{{- with .Values.sidecar.corsOrigins }}
- name: LOG_SIDECAR_CORS_ORIGINS
  value: {{ join "," . | quote }}
{{- end }}
{{- $settings := dict "LOG_LEVEL" .Values.sidecar.logLevel "ACCESS_LOG" .Values.sidecar.accessLog "MAX_STREAMS" .Values.sidecar.maxStreams "BUFFER_LINES" .Values.sidecar.bufferLines "BUFFER_BYTES" .Values.sidecar.bufferBytes "KEEPALIVE" .Values.sidecar.keepalive }}
{{- range $name, $value := .Values.sidecar.extraSettings }}
{{- $_ := set $settings (snakecase $name | upper) $value }}
{{- end }}
{{- range $name := keys $settings | sortAlpha }}
{{- $value := get $settings $name }}
{{- if not (kindIs "invalid" $value) }}
- name: LOG_SIDECAR_{{ $name }}
  value: {{ include "log-sidecar.envValue" $value }}
{{- end }}
{{- end }}
{{- with .Values.sidecar.extraEnv }}
{{ toYaml . }}
{{- end }}
{{- end }}

{{/* An env value as a quoted string: lists comma separated, whole numbers without an exponent. */}}
{{- define "log-sidecar.envValue" -}}
{{- if kindIs "slice" . }}
{{- join "," . | quote }}
{{- else if and (kindIs "float64" .) (eq . (floor .)) }}
{{- int64 . | toString | quote }}
{{- else }}
{{- toString . | quote }}
{{- end }}
{{- end }}

{{/*
The sidecar container, as one list item for `containers:` or, when sidecar.native is true,
`initContainers:` (it then carries restartPolicy: Always). embeddable
*/}}
{{- define "log-sidecar.container" -}}
{{- include "log-sidecar.validate" . -}}
- name: {{ .Values.sidecar.name }}
  image: {{ include "log-sidecar.image" . | quote }}
  imagePullPolicy: {{ .Values.image.pullPolicy }}
  {{- if .Values.sidecar.native }}
  restartPolicy: Always
  {{- end }}
  ports:
    - name: logs-http
      containerPort: {{ .Values.sidecar.port }}
      protocol: TCP
  env:
    {{- include "log-sidecar.env" . | nindent 4 }}
  volumeMounts:
    {{- if .Values.logs.dir }}
    - name: {{ .Values.logs.volumeName }}
      mountPath: {{ .Values.logs.dir }}
      readOnly: true
    {{- end }}
    - name: log-sidecar-tmp
      mountPath: /tmp
    {{- if ne .Values.auth.mode "none" }}
    - name: log-sidecar-auth
      mountPath: /etc/log-sidecar/auth
      readOnly: true
    {{- end }}
    {{- if include "log-sidecar.podSourceOn" . }}
    - name: log-sidecar-api-access
      mountPath: /var/run/secrets/kubernetes.io/serviceaccount
      readOnly: true
    {{- end }}
    {{- with .Values.sidecar.extraVolumeMounts }}
    {{- toYaml . | nindent 4 }}
    {{- end }}
  {{- with .Values.sidecar.startupProbe }}
  startupProbe:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  {{- with .Values.sidecar.livenessProbe }}
  livenessProbe:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  {{- with .Values.sidecar.readinessProbe }}
  readinessProbe:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  {{- with .Values.sidecar.resources }}
  resources:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  {{- with .Values.sidecar.securityContext }}
  securityContext:
    {{- toYaml . | nindent 4 }}
  {{- end }}
{{- end }}

{{/*
Volumes the sidecar needs, as list items for `volumes:`: the shared log emptyDir (unless
logs.createVolume is false), /tmp, the auth Secret, and the API token (pod source only: the token is
mounted into the sidecar alone, the pod itself sets automountServiceAccountToken: false). embeddable
*/}}
{{- define "log-sidecar.volumes" -}}
- name: log-sidecar-tmp
  emptyDir:
    sizeLimit: 64Mi
{{- if and .Values.logs.dir .Values.logs.createVolume }}
- name: {{ .Values.logs.volumeName }}
  emptyDir:
    {{- toYaml (default dict .Values.logs.emptyDir) | nindent 4 }}
{{- end }}
{{- if ne .Values.auth.mode "none" }}
- name: log-sidecar-auth
  secret:
    secretName: {{ include "log-sidecar.authSecretName" . }}
    defaultMode: 0444
    items:
      - key: {{ include "log-sidecar.authSecretKey" . }}
        path: secret
{{- end }}
{{- if include "log-sidecar.podSourceOn" . }}
- name: log-sidecar-api-access
  projected:
    defaultMode: 0444
    sources:
      - serviceAccountToken:
          path: token
          expirationSeconds: 3607
      - configMap:
          name: kube-root-ca.crt
          items:
            - key: ca.crt
              path: ca.crt
      - downwardAPI:
          items:
            - path: namespace
              fieldRef:
                apiVersion: v1
                fieldPath: metadata.namespace
{{- end }}
{{- end }}

{{/*
Pod spec fields for the API token: the ServiceAccount when the pod source is on, and never an
automatically mounted token (the sidecar mounts its own, see log-sidecar.volumes). embeddable
*/}}
{{- define "log-sidecar.podServiceAccount" -}}
{{- if include "log-sidecar.podSourceOn" . -}}
serviceAccountName: {{ include "log-sidecar.serviceAccountName" . }}
{{ end -}}
automountServiceAccountToken: false
{{- end }}

{{/* prometheus.io annotations for the pod (may be empty). embeddable */}}
{{- define "log-sidecar.podAnnotations" -}}
{{- if .Values.metrics.podAnnotations -}}
prometheus.io/scrape: "true"
prometheus.io/port: {{ .Values.sidecar.port | quote }}
prometheus.io/path: /metrics
{{- end }}
{{- end }}
