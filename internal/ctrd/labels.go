package ctrd

// Labels on every containerd container the agent creates. They say which pod
// and container it realizes, so the agent can rebuild its state from
// containerd after a restart. Values are ids and hashes, never specs:
// containerd limits a label's key plus value to 4096 bytes.
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
	// LabelContainerKind is "init", "sidecar" or "app".
	LabelContainerKind = labelPrefix + "container.kind"
	// LabelAttempt counts the container's restarts, from 0.
	LabelAttempt = labelPrefix + "container.attempt"
	// LabelOOMKilled is set when the kernel's OOM killer hit the container.
	LabelOOMKilled = labelPrefix + "container.oom-killed"
	// LabelShimGroup, as an OCI spec annotation, makes the runc shim run all
	// containers of a pod in one shim process; as a label it records the group.
	LabelShimGroup = "io.containerd.runc.v2.group"
)
