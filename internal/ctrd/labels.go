package ctrd

// Labels on every containerd container the agent creates. They say which pod
// and container it realizes, so the agent can rebuild its state from
// containerd after a restart. Values are ids, hashes and small records,
// never whole specs: containerd limits a label's key plus value to 4096 bytes.
const (
	labelPrefix = "io.vk-containerd."

	// LabelPodUID is the UID of the pod.
	LabelPodUID = labelPrefix + "pod.uid"
	// LabelPodNamespace is the namespace of the pod.
	LabelPodNamespace = labelPrefix + "pod.namespace"
	// LabelPodName is the name of the pod.
	LabelPodName = labelPrefix + "pod.name"
	// LabelContainerName is the name of the container in the pod spec.
	LabelContainerName = labelPrefix + "container.name"
	// LabelContainerKind is one of the Kind values below.
	LabelContainerKind = labelPrefix + "container.kind"
	// LabelAttempt counts the container's restarts, from 0.
	LabelAttempt = labelPrefix + "container.attempt"
	// LabelOOMKilled is set when the kernel's OOM killer hit the container.
	LabelOOMKilled = labelPrefix + "container.oom-killed"
	// LabelStartedAt records when the container's task started; containerd
	// keeps no start time of its own.
	LabelStartedAt = labelPrefix + "container.started-at"
	// LabelRestartDelay is the back-off that was applied before this attempt
	// started; the next delay is derived from it when the attempt exits.
	LabelRestartDelay = labelPrefix + "container.restart-delay"
	// LabelStartError holds why the task could not start (the kubelet's StartError).
	LabelStartError = labelPrefix + "container.start-error"
	// LabelSpecHash is a hash of the container's spec in the pod; when the
	// pod's spec changes (a new image), the running container is replaced.
	LabelSpecHash = labelPrefix + "container.spec-hash"
	// LabelResources records, as JSON, the resources (requests and limits)
	// that the container's cgroup was last set to: at its creation or by an
	// in-place resize.
	LabelResources = labelPrefix + "container.resources"
	// LabelShimGroup, as an OCI spec annotation, makes the runc shim run all
	// containers of a pod in one shim process; as a label it records the group.
	LabelShimGroup = "io.containerd.runc.v2.group"
)

// Container kinds, the values of LabelContainerKind.
const (
	// KindInit is a regular init container: it runs to completion, in order.
	KindInit = "init"
	// KindSidecar is a restartable init container: it starts in order and
	// runs beside the app containers.
	KindSidecar = "sidecar"
	// KindApp is one of the pod's containers.
	KindApp = "app"
	// KindEphemeral is a debugging container added to a running pod: it
	// runs once and never restarts.
	KindEphemeral = "ephemeral"
)
