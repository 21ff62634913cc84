{{/* Names, labels and the image, as `helm create` makes them. */}}

{{- define "srec.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
The base name of every object of the release. Kept to 47 characters so that the longest derived
name (`<fullname>-leader-election`) is still a valid label value.
*/}}
{{- define "srec.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 47 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 47 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 47 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{- define "srec.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "srec.labels" -}}
helm.sh/chart: {{ include "srec.chart" . }}
{{ include "srec.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: srec
{{- end }}

{{- define "srec.selectorLabels" -}}
app.kubernetes.io/name: {{ include "srec.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{/*
The operator's pods. `component: operator` keeps them apart from the recorder and syslog pods the
operator creates, which carry the same name label and, when the SessionRecording is named like the
release, the same instance label.
*/}}
{{- define "srec.operator.selectorLabels" -}}
{{ include "srec.selectorLabels" . }}
app.kubernetes.io/component: operator
{{- end }}

{{- define "srec.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "srec.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/* repository:tag, or repository@digest when a digest is given. */}}
{{- define "srec.image" -}}
{{- if .Values.image.digest }}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest }}
{{- else }}
{{- printf "%s:%s" .Values.image.repository (.Values.image.tag | default .Chart.AppVersion | toString) }}
{{- end }}
{{- end }}

{{- define "srec.sessionRecordingName" -}}
{{- default (include "srec.fullname" .) .Values.sessionRecording.name }}
{{- end }}

{{/*
Which storage source the values set, as a list (the SessionRecording needs exactly one).
*/}}
{{- define "srec.storageSources" -}}
{{- $s := list }}
{{- if .Values.storage.efs.fileSystemId }}{{ $s = append $s "efs" }}{{ end }}
{{- if .Values.storage.nfs.server }}{{ $s = append $s "nfs" }}{{ end }}
{{- if .Values.storage.existingClaim }}{{ $s = append $s "existingClaim" }}{{ end }}
{{- join "," $s }}
{{- end }}

{{/*
One validation of the rules that span several values; values.schema.json checks each value on its
own. Every message is gathered and the chart fails once, listing them all (bitnami style).
*/}}
{{- define "srec.validateValues" -}}
{{- $messages := list -}}
{{- $messages = append $messages (include "srec.validateValues.leaderElection" .) -}}
{{- $messages = append $messages (include "srec.validateValues.serviceAccount" .) -}}
{{- $messages = append $messages (include "srec.validateValues.sessionRecordingName" .) -}}
{{- $messages = append $messages (include "srec.validateValues.dataFolder" .) -}}
{{- $messages = append $messages (include "srec.validateValues.storage" .) -}}
{{- $messages = append $messages (include "srec.validateValues.efsPartial" .) -}}
{{- $messages = append $messages (include "srec.validateValues.nfsPartial" .) -}}
{{- $messages = append $messages (include "srec.validateValues.usersSecret" .) -}}
{{- $messages = append $messages (include "srec.validateValues.sshEvents" .) -}}
{{- $messages = append $messages (include "srec.validateValues.hosts" .) -}}
{{- $messages = append $messages (include "srec.validateValues.recorderPort" .) -}}
{{- $messages = append $messages (include "srec.validateValues.syslogTls" .) -}}
{{- $messages = append $messages (include "srec.validateValues.syslogLoop" .) -}}
{{- $messages = append $messages (include "srec.validateValues.consoleOidc" .) -}}
{{- $messages = append $messages (include "srec.validateValues.operatorResources" .) -}}
{{- $messages = without $messages "" -}}
{{- if $messages -}}
{{- printf "\nVALUES VALIDATION:\n%s" (join "\n" $messages) | fail -}}
{{- end -}}
{{- end -}}

{{/*
A resource quantity (values.schema.json's definitions.quantity) as a number of base units, cores or
bytes: enough to compare a request with its limit as the API server does.
*/}}
{{- define "srec.quantity" -}}
{{- $q := toString . -}}
{{- $n := regexFind "^[+-]?([0-9]+([.][0-9]*)?|[.][0-9]+)" $q -}}
{{- $suffix := trimPrefix $n $q -}}
{{- $units := dict "" 1.0 "n" 0.000000001 "u" 0.000001 "m" 0.001 "k" 1000.0 "M" 1000000.0 "G" 1000000000.0 "T" 1000000000000.0 "P" 1000000000000000.0 "E" 1000000000000000000.0 "Ki" 1024.0 "Mi" 1048576.0 "Gi" 1073741824.0 "Ti" 1099511627776.0 "Pi" 1125899906842624.0 "Ei" 1152921504606846976.0 -}}
{{- if hasKey $units $suffix -}}
{{- mulf (float64 $n) (get $units $suffix) -}}
{{- else -}}
{{- float64 $q -}}
{{- end -}}
{{- end -}}

{{/* The operator's V8 flags: see deployment.yaml. Without a memory limit, V8's own old-generation limit. */}}
{{- define "srec.operatorNodeOptions" -}}
--max-semi-space-size=2
{{- with (.Values.operator.resources.limits | default dict).memory }} --max-old-space-size={{ div (include "srec.quantity" . | float64 | int64) 2097152 }}{{ end }}
{{- end -}}

{{- define "srec.validateValues.operatorResources" -}}
{{- $requests := .Values.operator.resources.requests | default dict -}}
{{- $limits := .Values.operator.resources.limits | default dict -}}
{{- $problems := list -}}
{{- range $name, $request := $requests -}}
{{- $overcommit := has $name (list "cpu" "memory" "ephemeral-storage") -}}
{{- if hasKey $limits $name -}}
{{- $limit := get $limits $name -}}
{{- $r := float64 (include "srec.quantity" $request) -}}
{{- $l := float64 (include "srec.quantity" $limit) -}}
{{- if and $overcommit (gt $r $l) -}}
{{- $problems = append $problems (printf "%s: the request %v is above the limit %v" $name $request $limit) -}}
{{- else if and (not $overcommit) (ne $r $l) -}}
{{- $problems = append $problems (printf "%s: the request %v must equal the limit %v (it cannot be overcommitted)" $name $request $limit) -}}
{{- end -}}
{{- else if not $overcommit -}}
{{- $problems = append $problems (printf "%s: a request needs a limit (it cannot be overcommitted)" $name) -}}
{{- end -}}
{{- end -}}
{{- if $problems -}}
operator.resources: {{ join "; " $problems }}; change operator.resources.requests or operator.resources.limits
{{- end -}}
{{- end -}}

{{- define "srec.validateValues.leaderElection" -}}
{{- if and (gt (int .Values.operator.replicas) 1) (not .Values.operator.leaderElection.enabled) -}}
operator.leaderElection.enabled: {{ .Values.operator.replicas }} replicas without leader election would all reconcile the same objects at once; set operator.leaderElection.enabled=true or operator.replicas=1
{{- end -}}
{{- end -}}

{{- define "srec.validateValues.serviceAccount" -}}
{{- if and .Values.rbac.create (not .Values.serviceAccount.create) (not .Values.serviceAccount.name) -}}
serviceAccount.name: rbac.create=true with serviceAccount.create=false would grant the operator's rights to the namespace's "default" ServiceAccount; name an existing ServiceAccount in serviceAccount.name
{{- end -}}
{{- end -}}

{{/* The CRD's metadata.name rule, for the name the chart picks when sessionRecording.name is empty. */}}
{{- define "srec.validateValues.sessionRecordingName" -}}
{{- if .Values.sessionRecording.create -}}
{{- $name := include "srec.sessionRecordingName" . -}}
{{- if or (gt (len $name) 54) (not (regexMatch "^[a-z]([-a-z0-9]*[a-z0-9])?$" $name)) -}}
sessionRecording.name: {{ $name | quote }} is not a valid SessionRecording name (a lowercase letter, then letters, digits and '-', at most 54 characters); set sessionRecording.name
{{- end -}}
{{- end -}}
{{- end -}}

{{/* The CRD's CEL rule on spec.dataFolder, with its message. */}}
{{- define "srec.validateValues.dataFolder" -}}
{{- if .Values.sessionRecording.create -}}
{{- $d := .Values.sessionRecording.dataFolder -}}
{{- if or (not (hasPrefix "/" $d)) (regexMatch "//|(^|/)[.][.]?(/|$)" $d) (eq $d "/") (eq $d "/tmp") (hasPrefix "/tmp/" $d) (eq $d "/etc/srec") (hasPrefix "/etc/srec/" $d) -}}
sessionRecording.dataFolder: {{ $d | quote }} must be an absolute path without //, . or .. in it, other than /, /tmp and /etc/srec (the operator mounts the spool and the configuration there)
{{- end -}}
{{- end -}}
{{- end -}}

{{- define "srec.validateValues.storage" -}}
{{- if .Values.sessionRecording.create -}}
{{- $sources := include "srec.storageSources" . -}}
{{- if not $sources -}}
storage: the SessionRecording needs a share; set exactly one of storage.efs.fileSystemId, storage.nfs.server, storage.existingClaim
{{- else if contains "," $sources -}}
storage: set exactly one of storage.efs.fileSystemId, storage.nfs.server, storage.existingClaim (got {{ $sources | replace "," ", " }})
{{- else if and (eq $sources "nfs") (not .Values.storage.nfs.path) -}}
storage.nfs.path: the exported path is required with storage.nfs.server (e.g. /exports/privx)
{{- end -}}
{{- end -}}
{{- end -}}

{{- define "srec.validateValues.efsPartial" -}}
{{- if and .Values.sessionRecording.create (not .Values.storage.efs.fileSystemId) (or .Values.storage.efs.accessPointId .Values.storage.efs.storageClassName) -}}
storage.efs: accessPointId and storageClassName need storage.efs.fileSystemId
{{- end -}}
{{- end -}}

{{- define "srec.validateValues.nfsPartial" -}}
{{- if and .Values.sessionRecording.create (not .Values.storage.nfs.server) (or .Values.storage.nfs.path .Values.storage.nfs.mountOptions) -}}
storage.nfs: path and mountOptions need storage.nfs.server
{{- end -}}
{{- end -}}

{{- define "srec.validateValues.usersSecret" -}}
{{- if and .Values.sessionRecording.create (not .Values.recorder.usersSecret) -}}
recorder.usersSecret: name the Secret (key users.yaml) that lists who may connect through the recorder
{{- end -}}
{{- end -}}

{{- define "srec.validateValues.sshEvents" -}}
{{- if and .Values.sessionRecording.create .Values.audit.sshEvents.enabled (not .Values.privx.syslog.enabled) -}}
audit.sshEvents.enabled: SSH events are sent only through the syslog pipeline; set privx.syslog.enabled=true or audit.sshEvents.enabled=false
{{- end -}}
{{- end -}}

{{- define "srec.validateValues.hosts" -}}
{{- $seen := dict -}}
{{- $dups := list -}}
{{- range .Values.recorder.hosts -}}
{{- if hasKey $seen .name }}{{ $dups = append $dups .name }}{{ end -}}
{{- $_ := set $seen .name true -}}
{{- end -}}
{{- if $dups -}}
recorder.hosts: host names must be unique (repeated: {{ $dups | uniq | join ", " }})
{{- end -}}
{{- end -}}

{{- define "srec.validateValues.recorderPort" -}}
{{- if eq (int .Values.recorder.port) 9090 -}}
recorder.port: 9090 is the recorder's probe and metrics port; choose another SSH port (default 2222)
{{- end -}}
{{- end -}}

{{- define "srec.validateValues.syslogTls" -}}
{{- $s := .Values.privx.syslog -}}
{{- if and .Values.sessionRecording.create $s.tls.secretName -}}
{{- $sensitive := $s.audit.sensitive.to -}}
{{- if not (or (hasPrefix "@@" $sensitive) (and (not (hasPrefix "@" $sensitive)) (hasPrefix "@@" $s.audit.to))) -}}
privx.syslog.tls.secretName: tls needs a TCP forward, and UDP cannot carry TLS; set privx.syslog.audit.sensitive.to (or, when sensitive events are discarded, privx.syslog.audit.to) to @@host:port, not @host:port
{{- end -}}
{{- end -}}
{{- end -}}

{{/* The CRD's root rules: no forward to this SessionRecording's own syslog pod (or the loopback) on port 5514. */}}
{{- define "srec.validateValues.syslogLoop" -}}
{{- if .Values.sessionRecording.create -}}
{{- $own := printf "%s-syslog" (include "srec.sessionRecordingName" .) -}}
{{- $targets := dict "privx.syslog.audit.to" .Values.privx.syslog.audit.to "privx.syslog.audit.sensitive.to" .Values.privx.syslog.audit.sensitive.to -}}
{{- $found := list -}}
{{- range $value, $to := $targets -}}
{{- if and (hasSuffix ":5514" $to) (or (hasPrefix (printf "@%s:" $own) $to) (hasPrefix (printf "@%s." $own) $to) (hasPrefix (printf "@@%s:" $own) $to) (hasPrefix (printf "@@%s." $own) $to) (regexMatch "^@{1,2}(localhost|127[.][0-9.]+|\\[::1\\]):5514$" $to)) -}}
{{- $found = append $found (printf "%s: %q points at this SessionRecording's own syslog pod (<metadata.name>-syslog, or the loopback, port 5514): it would send every event back to itself; use the SIEM's address" $value $to) -}}
{{- end -}}
{{- end -}}
{{- join "\n" $found -}}
{{- end -}}
{{- end -}}

{{/* spec.console.oidc's required fields: all four, or none (no single sign-on). */}}
{{- define "srec.validateValues.consoleOidc" -}}
{{- $o := .Values.console.oidc -}}
{{- if or $o.issuerURL $o.clientID $o.clientSecretName $o.redirectURL -}}
{{- $missing := list -}}
{{- range $k := list "issuerURL" "clientID" "clientSecretName" "redirectURL" -}}
{{- if not (index $o $k) -}}{{- $missing = append $missing (printf "console.oidc.%s" $k) -}}{{- end -}}
{{- end -}}
{{- if $missing -}}
console.oidc: single sign-on needs issuerURL, clientID, clientSecretName and redirectURL together; set {{ join ", " $missing }} (or leave all four empty)
{{- end -}}
{{- end -}}
{{- end -}}
