package provider

import (
	"fmt"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"time"
)

// ownCondition is one of the pod conditions the node writes, before it is
// dated: whether it holds, and why not.
type ownCondition struct {
	t               corev1.PodConditionType
	ok              bool
	reason, message string
}

// conditions builds the kubelet's pod conditions and keeps others' ones.
func (in *statusInput) conditions(st *corev1.PodStatus, initDone bool, now time.Time) []corev1.PodCondition {
	own := in.ownConditions(st, initDone)
	out := othersConditions(in.pod, own, in.startTime)
	prev := map[corev1.PodConditionType]corev1.PodCondition{}
	for _, c := range in.prev.Conditions {
		prev[c.Type] = c
	}
	for _, o := range own {
		c := o.condition(st.Phase, initDone, in.pod.Generation, now)
		if p, ok := prev[o.t]; ok && p.Status == c.Status {
			c.LastTransitionTime = p.LastTransitionTime
		}
		out = append(out, c)
	}
	return append(out, in.resize.list()...)
}

// ownConditions are ReadyToStartContainers, Initialized, ContainersReady
// and Ready, with the containers in the way named as the kubelet does.
func (in *statusInput) ownConditions(st *corev1.PodStatus, initDone bool) []ownCondition {
	ready := initDone && st.Phase != corev1.PodSucceeded && st.Phase != corev1.PodFailed
	var unready, incomplete []string
	for _, cs := range append(append([]corev1.ContainerStatus{}, st.ContainerStatuses...), sidecarStatuses(in.pod, st)...) {
		if !cs.Ready {
			ready = false
			unready = append(unready, cs.Name)
		}
	}
	for i, c := range in.pod.Spec.InitContainers {
		cs := st.InitContainerStatuses[i]
		sidecar := c.RestartPolicy != nil && *c.RestartPolicy == corev1.ContainerRestartPolicyAlways
		if (sidecar && (cs.Started == nil || !*cs.Started)) || (!sidecar && (cs.State.Terminated == nil || cs.State.Terminated.ExitCode != 0)) {
			incomplete = append(incomplete, c.Name)
		}
	}
	return []ownCondition{
		{corev1.PodReadyToStartContainers, in.haveSandbox && !in.ended(), "", ""},
		{corev1.PodInitialized, initDone, "ContainersNotInitialized", listed("incomplete", incomplete)},
		{corev1.ContainersReady, ready, "ContainersNotReady", listed("unready", unready)},
		{corev1.PodReady, ready, "ContainersNotReady", listed("unready", unready)},
	}
}

// listed is the kubelet's message naming the containers in the way, as "[a b]".
func listed(what string, names []string) string {
	if len(names) == 0 {
		return ""
	}
	return fmt.Sprintf("containers with %s status: %s", what, names)
}

// othersConditions are the pod's conditions that the node does not own,
// with PodScheduled added for a pod bound by spec.nodeName: it never met the
// scheduler, and the kubelet reports it scheduled all the same.
func othersConditions(pod *corev1.Pod, own []ownCondition, startTime metav1.Time) []corev1.PodCondition {
	var out []corev1.PodCondition
	scheduled := false
	for _, c := range pod.Status.Conditions {
		scheduled = scheduled || c.Type == corev1.PodScheduled
		mine := isResizeCondition(c.Type)
		for _, o := range own {
			mine = mine || o.t == c.Type
		}
		if !mine {
			out = append(out, c)
		}
	}
	if !scheduled {
		out = append(out, corev1.PodCondition{Type: corev1.PodScheduled, Status: corev1.ConditionTrue, LastTransitionTime: startTime})
	}
	return out
}

// condition dates o and gives a terminal pod's conditions the kubelet's
// reasons (PodCompleted, PodFailed).
func (o ownCondition) condition(phase corev1.PodPhase, initDone bool, generation int64, now time.Time) corev1.PodCondition {
	c := corev1.PodCondition{Type: o.t, Status: corev1.ConditionFalse, LastTransitionTime: metav1.NewTime(now), ObservedGeneration: generation}
	if o.ok {
		c.Status = corev1.ConditionTrue
	} else if o.reason != "" && o.t != corev1.PodReadyToStartContainers {
		c.Reason, c.Message = o.reason, o.message
	}
	if o.t == corev1.PodInitialized && initDone && phase == corev1.PodSucceeded {
		c.Reason = "PodCompleted"
	}
	if !o.ok && (o.t == corev1.ContainersReady || o.t == corev1.PodReady) {
		switch phase {
		case corev1.PodSucceeded:
			c.Reason, c.Message = "PodCompleted", ""
		case corev1.PodFailed:
			c.Reason, c.Message = "PodFailed", ""
		}
	}
	return c
}

// sidecarStatuses are the statuses of the pod's sidecars, which count for
// its readiness like app containers.
func sidecarStatuses(pod *corev1.Pod, st *corev1.PodStatus) []corev1.ContainerStatus {
	var out []corev1.ContainerStatus
	for i, c := range pod.Spec.InitContainers {
		if c.RestartPolicy != nil && *c.RestartPolicy == corev1.ContainerRestartPolicyAlways && i < len(st.InitContainerStatuses) {
			out = append(out, st.InitContainerStatuses[i])
		}
	}
	return out
}
