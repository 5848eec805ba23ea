{{/* Object names: the release name if it contains "reachprobe", else <release>-reachprobe. */}}
{{- define "reachprobe.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 50 | trimSuffix "-" -}}
{{- else if contains "reachprobe" .Release.Name -}}
{{- .Release.Name | trunc 50 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-reachprobe" .Release.Name | trunc 50 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{- define "reachprobe.selectorLabels" -}}
app.kubernetes.io/name: reachprobe
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "reachprobe.labels" -}}
{{ include "reachprobe.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/part-of: reachprobe
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
{{- end -}}

{{/* Whether the shipped target NAME is on: `include "reachprobe.on" (list . "NAME")` is
     "true" or "". */}}
{{- define "reachprobe.on" -}}
{{- $root := index . 0 -}}
{{- if index $root.Values.targets (index . 1) -}}true{{- end -}}
{{- end -}}

{{/* kube-prometheus-stack's fullname, as that chart computes it (its _helpers.tpl,
     "kube-prometheus-stack.fullname"): fullnameOverride, else the release name if it
     contains the chart name, else <release>-kube-prometheus-stack; cut to 26 characters,
     a trailing "-" trimmed. */}}
{{- define "reachprobe.kpsFullname" -}}
{{- $kps := .Values.kubePrometheusStack -}}
{{- if $kps.fullnameOverride -}}
{{- $kps.fullnameOverride | trunc 26 | trimSuffix "-" -}}
{{- else if contains "kube-prometheus-stack" $kps.release -}}
{{- $kps.release | trunc 26 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-kube-prometheus-stack" $kps.release | trunc 26 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{/* kube-prometheus-stack's Alertmanager ClusterIP Service (its
     templates/alertmanager/service.yaml: <fullname>-alertmanager). */}}
{{- define "reachprobe.alertmanagerService" -}}
{{- include "reachprobe.kpsFullname" . }}-alertmanager
{{- end -}}

{{/* The probe config: config/eks.yaml (files/eks.yaml, copied by deploy/sync.sh) with the
     targets switched off by `targets` removed, comments and all (a target's block is its
     `  - name: NAME` line, the comment lines right above it and every line indented
     deeper), and `extraTargets` appended to its `targets:` list, which ends the file. */}}
{{- define "reachprobe.config" -}}
{{- $text := .Files.Get "files/eks.yaml" -}}
{{- $names := list -}}
{{- range regexFindAll "(?m)^  - name: [^\\s#]+" $text -1 -}}
{{- $names = append $names (trimPrefix "  - name: " .) -}}
{{- end -}}
{{- range $name, $on := .Values.targets -}}
{{- if not (has $name $names) -}}
{{- fail (printf "targets.%s: the shipped config has no target of that name (it has: %s)" $name (join ", " $names)) -}}
{{- end -}}
{{- if not (kindIs "bool" $on) -}}
{{- fail (printf "targets.%s: true or false, not %v" $name $on) -}}
{{- end -}}
{{- if not $on -}}
{{- $text = regexReplaceAll (printf "(?m)(^  #.*\\n)*^  - name: %s\\n(^(    .*)?\\n)*" (regexQuoteMeta $name)) $text "" -}}
{{- end -}}
{{- end -}}
{{- $text = trimSuffix "\n" $text -}}
{{- $text }}
{{- if .Values.clusterEndpoint.enabled }}
  # clusterEndpoint (Helm values): the kubelet's path to the API server, the server of its
  # kubeconfig (mounted from the node).
  - name: apiserver-endpoint
    type: tcp
    kubeconfig_server: {{ include "reachprobe.kubeletKubeconfigMount" . }}
    labels: {group: control-plane}
{{- end }}
{{- with .Values.extraTargets }}
{{- $afterTargets := regexFind "(?ms)^targets:\n.*" $text | trimPrefix "targets:\n" }}
{{- if regexMatch `(?m)^[^\s#]` $afterTargets }}
{{- fail "extraTargets: files/eks.yaml must end with its targets: list (a key after it would take them)" }}
{{- end }}
  # extraTargets (Helm values)
{{ toYaml . | indent 2 }}
{{- end }}
{{- end -}}

{{/* Where the node's kubelet kubeconfig is mounted in the container. */}}
{{- define "reachprobe.kubeletKubeconfigMount" -}}
/host/kubelet/kubeconfig
{{- end -}}
