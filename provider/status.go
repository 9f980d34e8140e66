package provider

import (
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/vk-containerd/vk-containerd/internal/ctrd"
)

func idOf(c *ctrd.ContainerStatus) string {
	if c == nil {
		return ""
	}
	return c.ID
}

// buildStatus writes the pod's status as the kubelet would, from the
// records and the sandbox. Fields the API server owns (qosClass) and
// conditions of others (PodScheduled) are kept from the pod.
func (w *worker) buildStatus(pod *corev1.Pod, now time.Time) corev1.PodStatus {
	// observedGeneration says which spec this status answers.
	st := corev1.PodStatus{QOSClass: pod.Status.QOSClass, StartTime: &w.startTime, ObservedGeneration: pod.Generation}
	if w.p.cfg.HostIP != nil {
		st.HostIP = w.p.cfg.HostIP.String()
		st.HostIPs = []corev1.HostIP{{IP: st.HostIP}}
	}
	if w.sb != nil {
		for _, ip := range w.sb.IPs {
			st.PodIPs = append(st.PodIPs, corev1.PodIP{IP: ip.String()})
		}
		if pod.Spec.HostNetwork && st.HostIP != "" {
			st.PodIPs = []corev1.PodIP{{IP: st.HostIP}}
		}
		if len(st.PodIPs) > 0 {
			st.PodIP = st.PodIPs[0].IP
		}
	} else if prev := w.currentStatus(); prev.PodIP != "" {
		st.PodIP, st.PodIPs = prev.PodIP, prev.PodIPs
	}

	// In a pod with init containers, a container not yet created waits
	// with PodInitializing, as on the kubelet.
	hasInit := len(pod.Spec.InitContainers) > 0
	initDone := true
	for _, c := range pod.Spec.InitContainers {
		cs := w.containerStatus(&c, hasInit)
		st.InitContainerStatuses = append(st.InitContainerStatuses, cs)
		r := w.records[c.Name]
		if r != nil && r.kind == kindSidecar {
			if r.current == nil || r.current.StartedAt.IsZero() {
				initDone = false
			}
			continue
		}
		if cs.State.Terminated == nil || cs.State.Terminated.ExitCode != 0 {
			initDone = false
		} else {
			// A completed init container stays ready, as on the kubelet.
			st.InitContainerStatuses[len(st.InitContainerStatuses)-1].Ready = true
		}
	}
	for _, c := range pod.Spec.Containers {
		st.ContainerStatuses = append(st.ContainerStatuses, w.containerStatus(&c, hasInit))
	}
	for i := range pod.Spec.EphemeralContainers {
		cs := w.containerStatus(ephemeral(&pod.Spec.EphemeralContainers[i]), false)
		cs.Started, cs.Ready = nil, false // not part of the pod's readiness
		st.EphemeralContainerStatuses = append(st.EphemeralContainerStatuses, cs)
	}
	st.Phase = w.phase(pod, initDone)
	st.Conditions = w.conditions(pod, &st, initDone, now)
	if w.sandboxErr != "" && w.sb == nil {
		st.Message = w.sandboxErr
	}
	if w.deadlineExceeded {
		st.Reason, st.Message = ReasonDeadlineExceeded, "Pod was active on the node longer than the specified deadline"
	}
	if w.rejectReason != "" {
		st.Reason, st.Message = w.rejectReason, w.rejectMessage
	}
	return st
}

func (w *worker) currentStatus() corev1.PodStatus {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.status
}

// containerStatus describes one container; appWaitsForInit marks app
// containers whose init containers have not finished.
func (w *worker) containerStatus(c *corev1.Container, appWaitsForInit bool) corev1.ContainerStatus {
	cs := corev1.ContainerStatus{Name: c.Name, Image: c.Image, Started: new(bool)}
	r := w.records[c.Name]
	if r == nil || r.current == nil {
		reason := ReasonContainerCreating
		if appWaitsForInit {
			reason = ReasonPodInitializing
		}
		message := ""
		if r != nil && r.waitingReason != "" {
			reason, message = r.waitingReason, r.waitingMessage
		}
		cs.State.Waiting = &corev1.ContainerStateWaiting{Reason: reason, Message: message}
		if r != nil {
			cs.ImageID = r.imageID
		}
		return cs
	}
	cur := r.current
	cs.ImageID = r.imageID
	if cs.ImageID == "" {
		cs.ImageID = cur.Image
	}
	cs.ContainerID = "containerd://" + cur.ID
	cs.RestartCount = int32(max(r.attempt(), 0))
	exited, _ := r.exited()
	switch {
	case cur.State == ctrd.StateRunning:
		cs.State.Running = &corev1.ContainerStateRunning{StartedAt: metav1.NewTime(cur.StartedAt)}
		*cs.Started, cs.Ready = w.probeResults(c, cur.ID)
		if r.previous != nil {
			cs.LastTerminationState.Terminated = w.terminated(c, r.previous)
		}
	case exited && r.waitingReason != "":
		cs.State.Waiting = &corev1.ContainerStateWaiting{Reason: r.waitingReason, Message: r.waitingMessage}
		cs.LastTerminationState.Terminated = w.terminated(c, cur)
	case exited:
		cs.State.Terminated = w.terminated(c, cur)
		if r.previous != nil {
			cs.LastTerminationState.Terminated = w.terminated(c, r.previous)
		}
	default:
		reason, message := ReasonContainerCreating, ""
		if r.waitingReason != "" {
			reason, message = r.waitingReason, r.waitingMessage
		}
		cs.State.Waiting = &corev1.ContainerStateWaiting{Reason: reason, Message: message}
	}
	return cs
}

// terminated describes an ended attempt of container spec.
func (w *worker) terminated(spec *corev1.Container, c *ctrd.ContainerStatus) *corev1.ContainerStateTerminated {
	t := &corev1.ContainerStateTerminated{
		ExitCode:    int32(c.ExitCode),
		StartedAt:   metav1.NewTime(c.StartedAt),
		FinishedAt:  metav1.NewTime(c.FinishedAt),
		ContainerID: "containerd://" + c.ID,
		Reason:      ReasonCompleted,
	}
	if msg := c.Labels[labelStartError]; msg != "" {
		t.ExitCode, t.Reason, t.Message = 128, ReasonStartError, msg
		t.FinishedAt = metav1.NewTime(c.CreatedAt)
		t.StartedAt = metav1.Time{}
		return t
	}
	if t.ExitCode != 0 {
		t.Reason = ReasonError
	}
	if c.Labels[ctrd.LabelOOMKilled] == "true" {
		t.Reason = ReasonOOMKilled
	}
	t.Message = w.terminationMessage(spec, c.ID, ctrd.Attempt(c.Labels), t.ExitCode, c.FinishedAt)
	if t.ExitCode > 128 && t.ExitCode < 128+65 {
		t.Signal = t.ExitCode - 128
	}
	return t
}

// phase follows the kubelet: Pending until every app container has started
// once; Succeeded or Failed when all have ended for good; Running otherwise.
func (w *worker) phase(pod *corev1.Pod, initDone bool) corev1.PodPhase {
	if w.failedInit || w.deadlineExceeded || w.rejectReason != "" {
		return corev1.PodFailed
	}
	if !initDone {
		return corev1.PodPending
	}
	running, waiting, succeeded, failed := 0, 0, 0, 0
	for _, c := range pod.Spec.Containers {
		r := w.records[c.Name]
		if r == nil || r.current == nil {
			waiting++
			continue
		}
		if r.running() {
			running++
			continue
		}
		exited, code := r.exited()
		switch {
		case !exited:
			waiting++
		case !w.terminal && shouldRestart(kindApp, pod.Spec.RestartPolicy, code):
			running++ // restarting
		case code == 0:
			succeeded++
		default:
			failed++
		}
	}
	switch {
	case waiting > 0 && running == 0 && succeeded+failed == 0:
		return corev1.PodPending
	case waiting > 0 && !w.terminal:
		return corev1.PodPending
	case running > 0:
		return corev1.PodRunning
	case failed > 0:
		return corev1.PodFailed
	case succeeded > 0:
		return corev1.PodSucceeded
	}
	return corev1.PodPending
}

// conditions builds the kubelet's pod conditions and keeps others' ones.
func (w *worker) conditions(pod *corev1.Pod, st *corev1.PodStatus, initDone bool, now time.Time) []corev1.PodCondition {
	ready := initDone
	var unready, incomplete []string
	for _, cs := range append(append([]corev1.ContainerStatus{}, st.ContainerStatuses...), sidecarStatuses(w, pod, st)...) {
		if !cs.Ready {
			ready = false
			unready = append(unready, cs.Name)
		}
	}
	for i, c := range pod.Spec.InitContainers {
		cs := st.InitContainerStatuses[i]
		sidecar := c.RestartPolicy != nil && *c.RestartPolicy == corev1.ContainerRestartPolicyAlways
		if (sidecar && (cs.Started == nil || !*cs.Started)) || (!sidecar && (cs.State.Terminated == nil || cs.State.Terminated.ExitCode != 0)) {
			incomplete = append(incomplete, c.Name)
		}
	}
	if st.Phase == corev1.PodSucceeded || st.Phase == corev1.PodFailed {
		ready = false
	}
	sandboxReady := w.sb != nil && !w.terminal
	// The kubelet's messages list the containers in the way, as "[a b]".
	listed := func(what string, names []string) string {
		if len(names) == 0 {
			return ""
		}
		return fmt.Sprintf("containers with %s status: %s", what, names)
	}
	own := []struct {
		t       corev1.PodConditionType
		ok      bool
		reason  string
		message string
	}{
		{corev1.PodReadyToStartContainers, sandboxReady, "", ""},
		{corev1.PodInitialized, initDone, "ContainersNotInitialized", listed("incomplete", incomplete)},
		{corev1.ContainersReady, ready, "ContainersNotReady", listed("unready", unready)},
		{corev1.PodReady, ready, "ContainersNotReady", listed("unready", unready)},
	}
	prev := map[corev1.PodConditionType]corev1.PodCondition{}
	for _, c := range w.currentStatus().Conditions {
		prev[c.Type] = c
	}
	var out []corev1.PodCondition
	scheduled := false
	for _, c := range pod.Status.Conditions {
		scheduled = scheduled || c.Type == corev1.PodScheduled
		mine := false
		for _, o := range own {
			mine = mine || o.t == c.Type
		}
		if !mine {
			out = append(out, c)
		}
	}
	if !scheduled {
		// A pod bound by spec.nodeName never met the scheduler; the kubelet
		// reports it scheduled all the same.
		out = append(out, corev1.PodCondition{Type: corev1.PodScheduled, Status: corev1.ConditionTrue, LastTransitionTime: w.startTime})
	}
	for _, o := range own {
		c := corev1.PodCondition{Type: o.t, Status: corev1.ConditionFalse, LastTransitionTime: metav1.NewTime(now), ObservedGeneration: pod.Generation}
		if o.ok {
			c.Status = corev1.ConditionTrue
		} else if o.reason != "" && o.t != corev1.PodReadyToStartContainers {
			c.Reason, c.Message = o.reason, o.message
		}
		if o.t == corev1.PodInitialized && initDone && st.Phase == corev1.PodSucceeded {
			c.Reason = "PodCompleted"
		}
		if !o.ok && (o.t == corev1.ContainersReady || o.t == corev1.PodReady) {
			switch st.Phase {
			case corev1.PodSucceeded:
				c.Reason, c.Message = "PodCompleted", ""
			case corev1.PodFailed:
				c.Reason, c.Message = "PodFailed", ""
			}
		}
		if p, ok := prev[o.t]; ok && p.Status == c.Status {
			c.LastTransitionTime = p.LastTransitionTime
		}
		out = append(out, c)
	}
	return out
}

func sidecarStatuses(w *worker, pod *corev1.Pod, st *corev1.PodStatus) []corev1.ContainerStatus {
	var out []corev1.ContainerStatus
	for i, c := range pod.Spec.InitContainers {
		if c.RestartPolicy != nil && *c.RestartPolicy == corev1.ContainerRestartPolicyAlways && i < len(st.InitContainerStatuses) {
			out = append(out, st.InitContainerStatuses[i])
		}
	}
	return out
}
