{{/*
Helpers. The templates marked "embeddable" take a context with .Values (this chart's values) and
.Release, so another chart can add the sidecar to its own pods:

  {{- $logSidecar := index .Subcharts "log-sidecar" }}
  (or dict "Values" (index .Values "log-sidecar") "Release" .Release "Capabilities" .Capabilities)
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

{{/*
ServiceAccount name (only meaningful when the pod source is on). Never the namespace's `default`:
every pod there runs as it, so binding log access to it would hand the logs to all of them. embeddable
*/}}
{{- define "log-sidecar.serviceAccountName" -}}
{{- $name := .Values.serviceAccount.name }}
{{- if .Values.serviceAccount.create }}
{{- $name = default (include "log-sidecar.fullname" .) $name }}
{{- else if not $name }}
{{- fail "serviceAccount.create=false needs serviceAccount.name: the pod log source would otherwise run as the namespace's default ServiceAccount, and its log access would go to every pod there" }}
{{- end }}
{{- if eq $name "default" }}
{{- fail "serviceAccount.name must not be default: the pod log access would go to every pod of the namespace; name a ServiceAccount of its own" }}
{{- end }}
{{- $name }}
{{- end }}

{{/* "true" when the sidecar runs as a native sidecar (sidecar.native true, or auto on Kubernetes 1.29+), else "". embeddable */}}
{{- define "log-sidecar.native" -}}
{{- $native := .Values.sidecar.native }}
{{- $version := "" }}
{{- if and (hasKey . "Capabilities") .Capabilities }}
{{- $version = .Capabilities.KubeVersion.Version }}
{{- end }}
{{- if eq (toString $native) "auto" }}
{{- if not $version }}
{{- fail "sidecar.native=auto needs .Capabilities in the template context (pass \"Capabilities\" .Capabilities, or set sidecar.native to true or false)" }}
{{- end }}
{{- if semverCompare ">=1.29.0-0" $version }}true{{ end }}
{{- else if $native }}
{{- if and $version (semverCompare "<1.29.0-0" $version) }}
{{- fail (printf "sidecar.native needs Kubernetes 1.29 or newer (this is %s); use sidecar.native=auto" $version) }}
{{- end }}
{{- true }}
{{- end }}
{{- end }}

{{/* Name of the Secret holding the auth secret. */}}
{{- define "log-sidecar.authSecretName" -}}
{{- default (printf "%s-auth" (include "log-sidecar.fullname" .)) .Values.auth.existingSecret }}
{{- end }}

{{/* Whether the chart creates the auth Secret: "true" or "". */}}
{{- define "log-sidecar.ownsSecret" -}}
{{- if and (ne .Values.auth.mode "none") (not .Values.auth.existingSecret) }}true{{ end }}
{{- end }}

{{/*
The secret value of the Secret the chart creates: auth.secret, else the one already in the cluster
(kept across upgrades, read back with lookup), else 40 random characters. Worked out once per render
and kept in .Values.auth, so the Secret and the pod's checksum/secret annotation see the same value.
*/}}
{{- define "log-sidecar.authSecretValue" -}}
{{- if not (hasKey .Values.auth "_renderedSecret") }}
{{- $secret := .Values.auth.secret }}
{{- if not $secret }}
{{- $existing := lookup "v1" "Secret" .Release.Namespace (include "log-sidecar.authSecretName" .) }}
{{- if and $existing $existing.data (hasKey $existing.data "secret") }}
{{- $secret = index $existing.data "secret" | b64dec }}
{{- else }}
{{- $secret = randAlphaNum 40 }}
{{- end }}
{{- end }}
{{- $_ := set .Values.auth "_renderedSecret" $secret }}
{{- end }}
{{- index .Values.auth "_renderedSecret" }}
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

{{/*
matchLabels of an object that selects pods or Services (log-sidecar.selector with dict "root" . "what"
NAME "selector" VALUE "own" BOOL): the given labels, else this chart's selector labels when the chart
renders what is selected (own), else a clear failure: in embedding mode the chart's labels are on no
pod, so the object would select nothing (or, empty, a NetworkPolicy would cover every pod).
*/}}
{{- define "log-sidecar.selector" -}}
{{- if .selector }}
{{- toYaml .selector }}
{{- else if .own }}
{{- include "log-sidecar.selectorLabels" .root }}
{{- else }}
{{- fail (printf "%s.enabled=true needs %s: %s, so this chart's own labels would select nothing" .what .hint .why) }}
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
{{- range $probe := list "startupProbe" "livenessProbe" "readinessProbe" }}
{{- if hasPrefix "/readyz" (toString (dig "httpGet" "path" "" (default dict (index $.Values.sidecar $probe)))) }}
{{- fail (printf "sidecar.%s must not use /readyz: it fails while no source follows (no file yet, pod log API forbidden), and a probe of the sidecar that fails takes the whole pod, the workload with it, out of its Service; use /healthz" $probe) }}
{{- end }}
{{- end }}
{{- $managed := include "log-sidecar.managedSettings" . | fromYaml }}
{{- range $name, $_ := .Values.sidecar.extraSettings }}
{{- $field := snakecase $name }}
{{- if hasKey $managed $field }}
{{- fail (printf "sidecar.extraSettings.%s: the chart manages LOG_SIDECAR_%s, from %s" $name (upper $field) (get $managed $field)) }}
{{- end }}
{{- end }}
{{- $limit := dig "limits" "memory" "" (default dict .Values.sidecar.resources) }}
{{- if and $limit (not (kindIs "invalid" .Values.sidecar.bufferTotalBytes)) }}
{{- if ge (int64 .Values.sidecar.bufferTotalBytes) (int64 (include "log-sidecar.quantityBytes" $limit)) }}
{{- fail (printf "sidecar.bufferTotalBytes (%s) must be below sidecar.resources.limits.memory (%s): the buffers would get the sidecar OOM-killed" (include "log-sidecar.envValue" .Values.sidecar.bufferTotalBytes) (toString $limit)) }}
{{- end }}
{{- end }}
{{- end }}

{{/*
Settings the chart renders from its own values, as field -> the value to set instead. They are
refused in sidecar.extraSettings, where a second LOG_SIDECAR_<NAME> would silently win over the
chart's (and NOTES.txt would describe the chart's).
*/}}
{{- define "log-sidecar.managedSettings" -}}
host: "a fixed :: (IPv4 and IPv6; the port is sidecar.port)"
port: sidecar.port
files: logs.dir or logs.files
pod_source: podSource.mode
pod_name: the Downward API (metadata.name)
pod_namespace: the Downward API (metadata.namespace)
pod_selector: podSource.selector
pod_containers: podSource.containers
pod_self_container: sidecar.name
auth: auth.mode
auth_secret: auth.secret or auth.existingSecret
auth_secret_file: auth.secret or auth.existingSecret
auth_username: auth.username
metrics_auth: metrics.requireAuth
cors_origins: sidecar.corsOrigins
log_level: sidecar.logLevel
access_log: sidecar.accessLog
max_streams: sidecar.maxStreams
max_streams_per_client: sidecar.maxStreamsPerClient
trusted_proxies: sidecar.trustedProxies
buffer_lines: sidecar.bufferLines
buffer_bytes: sidecar.bufferBytes
buffer_total_bytes: sidecar.bufferTotalBytes
keepalive: sidecar.keepalive
state_dir: sidecar.stateDir
count: metrics.patterns
{{- end }}

{{/*
Bytes of a Kubernetes memory quantity: 268435456, 256Mi, 0.5Gi, 512M, 1G, 64k ... (binary Ki..Ei,
decimal k, M..E). Anything else fails rendering, with the value in the message.
*/}}
{{- define "log-sidecar.quantityBytes" -}}
{{- if or (kindIs "float64" .) (kindIs "int" .) (kindIs "int64" .) }}
{{- int64 . }}
{{- else }}
{{- $quantity := toString . }}
{{- if not (regexMatch "^[0-9]+(\\.[0-9]+)?([KMGTPE]i|[kMGTPE])?$" $quantity) }}
{{- fail (printf "sidecar.resources.limits.memory %q: not a memory quantity the chart reads (use e.g. 256Mi, 1Gi or 512M)" $quantity) }}
{{- end }}
{{- $number := regexReplaceAll "[^0-9.].*$" $quantity "" | float64 }}
{{- $unit := regexReplaceAll "^[0-9.]+" $quantity "" }}
{{- $factors := dict "" 1.0 "k" 1e3 "M" 1e6 "G" 1e9 "T" 1e12 "P" 1e15 "E" 1e18 "Ki" 1024.0 "Mi" 1048576.0 "Gi" 1073741824.0 "Ti" 1099511627776.0 "Pi" 1125899906842624.0 "Ei" 1152921504606846976.0 }}
{{- mulf $number (get $factors $unit) | floor | int64 }}
{{- end }}
{{- end }}

{{/*
LOG_SIDECAR_BUFFER_TOTAL_BYTES: sidecar.bufferTotalBytes, else half of the memory limit, else ""
(the sidecar then derives it from its cgroup limit).
*/}}
{{- define "log-sidecar.bufferTotalBytes" -}}
{{- $limit := dig "limits" "memory" "" (default dict .Values.sidecar.resources) }}
{{- if not (kindIs "invalid" .Values.sidecar.bufferTotalBytes) }}
{{- int64 .Values.sidecar.bufferTotalBytes }}
{{- else if $limit }}
{{- div (int64 (include "log-sidecar.quantityBytes" $limit)) 2 }}
{{- end }}
{{- end }}

{{/*
Environment of the sidecar container: the chart's LOG_SIDECAR_* settings, then sidecar.extraEnv. An
extraEnv entry may not repeat a name the chart renders: Kubernetes would silently take the later one.
*/}}
{{- define "log-sidecar.env" -}}
{{- $chartEnv := include "log-sidecar.chartEnv" . }}
{{- $names := list }}
{{- range $entry := fromYamlArray $chartEnv }}
{{- $names = append $names $entry.name }}
{{- end }}
{{- range $entry := .Values.sidecar.extraEnv }}
{{- if has $entry.name $names }}
{{- fail (printf "sidecar.extraEnv sets %s, which the chart renders from its values: set that value instead (see the chart README)" $entry.name) }}
{{- end }}
{{- end }}
{{- $chartEnv }}
{{- with .Values.sidecar.extraEnv }}
{{ toYaml . }}
{{- end }}
{{- end }}

{{/* The LOG_SIDECAR_* environment the chart renders: only names that sidecar/config.py reads. */}}
{{- define "log-sidecar.chartEnv" -}}
{{- /* :: answers IPv4 and IPv6 (dual-stack and IPv6-only clusters); the sidecar falls back to 0.0.0.0 without IPv6. */}}
- name: LOG_SIDECAR_HOST
  value: "::"
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
{{- /* Always explicit: the sidecar refuses to listen beyond loopback without a LOG_SIDECAR_AUTH choice. */}}
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
{{- with include "log-sidecar.bufferTotalBytes" . }}
- name: LOG_SIDECAR_BUFFER_TOTAL_BYTES
  value: {{ . | quote }}
{{- end }}
{{- with .Values.sidecar.trustedProxies }}
- name: LOG_SIDECAR_TRUSTED_PROXIES
  value: {{ join "," . | quote }}
{{- end }}
{{- if .Values.sidecar.stateDir.enabled }}
- name: LOG_SIDECAR_STATE_DIR
  value: {{ .Values.sidecar.stateDir.path | quote }}
{{- end }}
{{- with .Values.metrics.patterns }}
{{- $counters := list }}
{{- range $name := keys . | sortAlpha }}
{{- $counters = append $counters (printf "%s=%s" $name (get $.Values.metrics.patterns $name)) }}
{{- end }}
- name: LOG_SIDECAR_COUNT
  value: {{ join "," $counters | quote }}
{{- end }}
{{- $settings := dict "LOG_LEVEL" .Values.sidecar.logLevel "ACCESS_LOG" .Values.sidecar.accessLog "MAX_STREAMS" .Values.sidecar.maxStreams "MAX_STREAMS_PER_CLIENT" .Values.sidecar.maxStreamsPerClient "BUFFER_LINES" .Values.sidecar.bufferLines "BUFFER_BYTES" .Values.sidecar.bufferBytes "KEEPALIVE" .Values.sidecar.keepalive }}
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
The sidecar container, as one list item for `containers:` or, when log-sidecar.native says so,
`initContainers:` (it then carries restartPolicy: Always). embeddable
*/}}
{{- define "log-sidecar.container" -}}
{{- include "log-sidecar.validate" . -}}
- name: {{ .Values.sidecar.name }}
  image: {{ include "log-sidecar.image" . | quote }}
  imagePullPolicy: {{ .Values.image.pullPolicy }}
  {{- if include "log-sidecar.native" . }}
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
    {{- if .Values.sidecar.stateDir.enabled }}
    - name: log-sidecar-state
      mountPath: {{ .Values.sidecar.stateDir.path }}
    {{- end }}
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
{{- if .Values.sidecar.stateDir.enabled }}
- name: log-sidecar-state
  emptyDir:
    {{- toYaml (default dict .Values.sidecar.stateDir.emptyDir) | nindent 4 }}
{{- end }}
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
{{- with .Values.sidecar.extraVolumes }}
{{ toYaml . }}
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

{{/*
Annotations for the pod (may be empty): prometheus.io/* and, when the chart creates the auth Secret,
checksum/secret, so a new token rolls the pods instead of leaving them on the old one. embeddable
*/}}
{{- define "log-sidecar.podAnnotations" -}}
{{- if .Values.metrics.podAnnotations }}
prometheus.io/scrape: "true"
prometheus.io/port: {{ .Values.sidecar.port | quote }}
prometheus.io/path: /metrics
{{- end }}
{{- if include "log-sidecar.ownsSecret" . }}
checksum/secret: {{ include "log-sidecar.secretChecksum" . }}
{{- end }}
{{- end }}

{{/* sha256 of the created Secret's data, as secret.yaml renders it. */}}
{{- define "log-sidecar.secretChecksum" -}}
{{- printf "secret=%s\nusername=%s" (include "log-sidecar.authSecretValue" .) .Values.auth.username | sha256sum }}
{{- end }}

{{/* Credentials of a ServiceMonitor or PodMonitor endpoint when /metrics needs auth (may be empty). */}}
{{- define "log-sidecar.scrapeAuth" -}}
{{- if .Values.metrics.requireAuth }}
{{- if eq .Values.auth.mode "bearer" }}
authorization:
  type: Bearer
  credentials:
    name: {{ include "log-sidecar.authSecretName" . }}
    key: {{ include "log-sidecar.authSecretKey" . }}
{{- else if eq .Values.auth.mode "basic" }}
basicAuth:
  username:
    name: {{ include "log-sidecar.authSecretName" . }}
    key: {{ if .Values.auth.existingSecret }}{{ .Values.metrics.serviceMonitor.basicAuthUsernameKey }}{{ else }}username{{ end }}
  password:
    name: {{ include "log-sidecar.authSecretName" . }}
    key: {{ include "log-sidecar.authSecretKey" . }}
{{- end }}
{{- end }}
{{- end }}

{{/* Labels of every alert of the PrometheusRule (called with metrics.prometheusRule). */}}
{{- define "log-sidecar.alertLabels" -}}
severity: {{ .severity | quote }}
{{- with .alertLabels }}
{{ toYaml . }}
{{- end }}
{{- end }}
