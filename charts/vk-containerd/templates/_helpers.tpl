{{/* The name of the release's objects. */}}
{{- define "vk-containerd.fullname" -}}
{{- if contains .Chart.Name .Release.Name -}}
{{- .Release.Name | trunc 50 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 50 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{- define "vk-containerd.labels" -}}
app.kubernetes.io/name: {{ .Chart.Name }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{- end -}}

{{/*
The agents' pods. The component keeps the chart's other pods (test,
uninstall) out of the DaemonSet's selector, which would take them for
surplus agents and delete them.
*/}}
{{- define "vk-containerd.selectorLabels" -}}
app.kubernetes.io/name: {{ .Chart.Name }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/component: agent
{{- end -}}

{{- define "vk-containerd.image" -}}
{{ .Values.image.repository }}:{{ .Values.image.tag | default .Chart.AppVersion }}
{{- end -}}

{{/* The label every node of the release carries, and its selector. */}}
{{- define "vk-containerd.nodeLabelKey" -}}vk-containerd.io/release{{- end -}}
{{- define "vk-containerd.nodeSelector" -}}
{{ include "vk-containerd.nodeLabelKey" . }}={{ .Release.Name }}
{{- end -}}

{{/* The group of the release's bootstrap token. */}}
{{- define "vk-containerd.bootstrapGroup" -}}
system:bootstrappers:vk-containerd:{{ .Release.Name }}
{{- end -}}

{{/* A kubeconfig for the chart's pods, with apiServer and the pod's service account token. */}}
{{- define "vk-containerd.apiKubeconfig" -}}
apiVersion: v1
kind: Config
clusters:
- name: cluster
  cluster:
    server: {{ .Values.apiServer | quote }}
    certificate-authority: /var/run/secrets/kubernetes.io/serviceaccount/ca.crt
users:
- name: service-account
  user:
    tokenFile: /var/run/secrets/kubernetes.io/serviceaccount/token
contexts:
- name: default
  context: {cluster: cluster, user: service-account}
current-context: default
{{- end -}}

{{/*
Where the chart's pods run: the hosts the user selected, never a node of
vk-containerd itself (an agent on such a node would nest).
*/}}
{{- define "vk-containerd.placement" -}}
{{- with .Values.nodeSelector }}
nodeSelector:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .Values.tolerations }}
tolerations:
  {{- toYaml . | nindent 2 }}
{{- end }}
affinity:
  nodeAffinity:
    requiredDuringSchedulingIgnoredDuringExecution:
      nodeSelectorTerms:
      - matchExpressions:
        - key: {{ include "vk-containerd.nodeLabelKey" . }}
          operator: DoesNotExist
{{- end -}}

{{/* The client flags and volume of the chart's own pods (hooks, tests). */}}
{{- define "vk-containerd.clientArgs" -}}
{{- if .Values.apiServer }}
- --kubeconfig=/etc/vk-containerd/api/kubeconfig
{{- end }}
{{- end -}}
{{- define "vk-containerd.clientMounts" -}}
{{- if .Values.apiServer }}
volumeMounts:
- name: api
  mountPath: /etc/vk-containerd/api
  readOnly: true
{{- end }}
{{- end -}}
{{- define "vk-containerd.clientVolumes" -}}
{{- if .Values.apiServer }}
volumes:
- name: api
  configMap:
    name: {{ include "vk-containerd.fullname" . }}-api
{{- end }}
{{- end -}}
