package provider

import (
	"net"
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

// statusInput is everything a pod's status is made of, as one pass
// observed it. buildStatus reads nothing else: no clock, no files, no
// containerd, so the status is a function of what was observed.
type statusInput struct {
	pod            *corev1.Pod
	state          podState
	failure        failure // why the pod failed
	sandboxFailure failure // why the sandbox is not ready
	records        map[string]*tracked
	haveSandbox    bool
	sandboxIPs     []net.IP
	hostIP         net.IP
	startTime      metav1.Time
	prev           corev1.PodStatus       // the status published last
	probes         map[string]probeResult // by attempt id
	messages       map[string]string      // termination messages, by attempt id
	granted        allocation             // the resources the node granted, when admitted
	resize         resizeConditions
}

// probeResult is what the probes of one running attempt concluded.
type probeResult struct{ started, ready bool }

// statusInput snapshots what the worker observed of pod.
func (w *worker) statusInput(pod *corev1.Pod) *statusInput {
	in := &statusInput{
		pod: pod, state: w.state, failure: w.failure, sandboxFailure: w.sandboxFailure,
		records: w.records, hostIP: w.p.cfg.HostIP, startTime: w.startTime,
		prev: w.currentStatus(), probes: map[string]probeResult{}, messages: w.messages,
	}
	if w.sb != nil {
		in.haveSandbox, in.sandboxIPs = true, w.sb.IPs
	}
	if a, ok := w.p.granted(w.uid); ok {
		in.granted = a
	} else {
		in.granted = allocationOf(pod)
	}
	in.resize = w.resize
	for _, pr := range w.probers {
		started, ready := pr.results()
		in.probes[pr.id] = probeResult{started: started, ready: ready}
	}
	return in
}

// buildStatus is the pod's status from what the worker observed.
func (w *worker) buildStatus(pod *corev1.Pod, now time.Time) corev1.PodStatus {
	return w.statusInput(pod).build(now)
}

// ended reports whether containers stay as they are: the pod is terminal
// or being torn down, so an exited container is final, not restarting.
func (in *statusInput) ended() bool {
	return in.state == stateTerminal || in.state == stateTerminating || in.state == stateGone
}

// build writes the pod's status as the kubelet would. Fields the API server
// owns (qosClass) and conditions of others (PodScheduled) are kept from the pod.
func (in *statusInput) build(now time.Time) corev1.PodStatus {
	pod := in.pod
	// observedGeneration says which spec this status answers.
	st := corev1.PodStatus{QOSClass: pod.Status.QOSClass, StartTime: &in.startTime, ObservedGeneration: pod.Generation}
	if in.hostIP != nil {
		st.HostIP = in.hostIP.String()
		st.HostIPs = []corev1.HostIP{{IP: st.HostIP}}
	}
	if in.haveSandbox {
		for _, ip := range in.sandboxIPs {
			st.PodIPs = append(st.PodIPs, corev1.PodIP{IP: ip.String()})
		}
		if pod.Spec.HostNetwork && st.HostIP != "" {
			st.PodIPs = []corev1.PodIP{{IP: st.HostIP}}
		}
		if len(st.PodIPs) > 0 {
			st.PodIP = st.PodIPs[0].IP
		}
	} else if in.prev.PodIP != "" {
		st.PodIP, st.PodIPs = in.prev.PodIP, in.prev.PodIPs
	}

	// In a pod with init containers, a container not yet created waits
	// with PodInitializing, as on the kubelet.
	hasInit := len(pod.Spec.InitContainers) > 0
	for _, c := range pod.Spec.InitContainers {
		cs := in.containerStatus(&c, hasInit)
		if kindOfInit(&c) == ctrd.KindInit && cs.State.Terminated != nil && cs.State.Terminated.ExitCode == 0 {
			// A completed init container stays ready, as on the kubelet.
			cs.Ready = true
		}
		st.InitContainerStatuses = append(st.InitContainerStatuses, cs)
	}
	for _, c := range pod.Spec.Containers {
		st.ContainerStatuses = append(st.ContainerStatuses, in.containerStatus(&c, hasInit))
	}
	for i := range pod.Spec.EphemeralContainers {
		cs := in.containerStatus(ephemeral(&pod.Spec.EphemeralContainers[i]), false)
		cs.Started, cs.Ready = nil, false // not part of the pod's readiness
		st.EphemeralContainerStatuses = append(st.EphemeralContainerStatuses, cs)
	}
	initDone := in.initDone()
	st.Phase = in.phaseWith(initDone)
	st.Conditions = in.conditions(&st, initDone, now)
	if !in.sandboxFailure.none() && !in.haveSandbox {
		st.Message = in.sandboxFailure.message
	}
	if !in.failure.none() {
		st.Reason, st.Message = in.failure.reason, in.failure.message
	}
	return st
}

// initDone reports whether every regular init container succeeded and
// every sidecar started.
func (in *statusInput) initDone() bool {
	for i := range in.pod.Spec.InitContainers {
		c := &in.pod.Spec.InitContainers[i]
		r := in.records[c.Name]
		if kindOfInit(c) == ctrd.KindSidecar {
			if r == nil || r.current == nil || r.current.StartedAt.IsZero() {
				return false
			}
			continue
		}
		if r == nil {
			return false
		}
		if exited, code := r.exited(); !exited || code != 0 {
			return false
		}
	}
	return true
}

// initFailed reports whether a regular init container failed for good.
func (in *statusInput) initFailed() bool {
	if in.pod.Spec.RestartPolicy != corev1.RestartPolicyNever {
		return false
	}
	for i := range in.pod.Spec.InitContainers {
		c := &in.pod.Spec.InitContainers[i]
		if kindOfInit(c) != ctrd.KindInit {
			continue
		}
		r := in.records[c.Name]
		if r == nil {
			return false
		}
		exited, code := r.exited()
		if !exited {
			return false
		}
		if code != 0 {
			return true
		}
	}
	return false
}

// containerStatus describes one container; appWaitsForInit marks app
// containers whose init containers have not finished.
func (in *statusInput) containerStatus(c *corev1.Container, appWaitsForInit bool) corev1.ContainerStatus {
	cs := corev1.ContainerStatus{Name: c.Name, Image: c.Image, Started: new(bool)}
	r := in.records[c.Name]
	if r == nil || r.current == nil {
		reason := ReasonContainerCreating
		if appWaitsForInit {
			reason = ReasonPodInitializing
		}
		message := ""
		if r != nil && r.waiting.reason != "" {
			reason, message = r.waiting.reason, r.waiting.message
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
	if r.kind != ctrd.KindEphemeral {
		cs.AllocatedResources, cs.Resources = in.resources(c, r)
	}
	exited, _ := r.exited()
	switch {
	case cur.State == ctrd.StateRunning:
		cs.State.Running = &corev1.ContainerStateRunning{StartedAt: metav1.NewTime(cur.StartedAt)}
		*cs.Started, cs.Ready = in.probeResults(c, cur.ID)
		if r.previous != nil {
			cs.LastTerminationState.Terminated = in.terminated(r.previous)
		}
	case exited && r.waiting.reason != "":
		cs.State.Waiting = &corev1.ContainerStateWaiting{Reason: r.waiting.reason, Message: r.waiting.message}
		cs.LastTerminationState.Terminated = in.terminated(cur)
	case exited:
		cs.State.Terminated = in.terminated(cur)
		if r.previous != nil {
			cs.LastTerminationState.Terminated = in.terminated(r.previous)
		}
	default:
		reason, message := ReasonContainerCreating, ""
		if r.waiting.reason != "" {
			reason, message = r.waiting.reason, r.waiting.message
		}
		cs.State.Waiting = &corev1.ContainerStateWaiting{Reason: reason, Message: message}
	}
	return cs
}

// resources are a container's allocated requests and the resources it
// has, as the kubelet reports them: a running attempt's cgroup's, an
// exited one's allocation.
func (in *statusInput) resources(c *corev1.Container, r *tracked) (corev1.ResourceList, *corev1.ResourceRequirements) {
	alloc, ok := in.granted.containers[c.Name]
	if !ok {
		alloc = *c.Resources.DeepCopy()
	}
	have := alloc
	if r.running() {
		have = appliedResources(r.current, c)
	}
	return alloc.Requests, &have
}

// probeResults are the started and ready flags of a running attempt.
func (in *statusInput) probeResults(c *corev1.Container, id string) (started, ready bool) {
	if pr, ok := in.probes[id]; ok {
		return pr.started, pr.ready
	}
	started, ready = initialResults(c)
	return started, started && ready
}

// terminated describes an ended attempt.
func (in *statusInput) terminated(c *ctrd.ContainerStatus) *corev1.ContainerStateTerminated {
	t := &corev1.ContainerStateTerminated{
		ExitCode:    int32(c.ExitCode),
		StartedAt:   metav1.NewTime(c.StartedAt),
		FinishedAt:  metav1.NewTime(c.FinishedAt),
		ContainerID: "containerd://" + c.ID,
		Reason:      ReasonCompleted,
	}
	if msg := c.Labels[ctrd.LabelStartError]; msg != "" {
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
	t.Message = in.messages[c.ID]
	if t.ExitCode > 128 && t.ExitCode < 128+65 {
		t.Signal = t.ExitCode - 128
	}
	return t
}

// phase is the pod's phase from what was observed.
func (in *statusInput) phase() corev1.PodPhase { return in.phaseWith(in.initDone()) }

// phaseWith follows the kubelet: Pending until every app container has
// started once; Succeeded or Failed when all have ended for good; Running
// otherwise.
func (in *statusInput) phaseWith(initDone bool) corev1.PodPhase {
	pod := in.pod
	if !in.failure.none() || in.initFailed() {
		return corev1.PodFailed
	}
	if !initDone {
		return corev1.PodPending
	}
	running, waiting, succeeded, failed := 0, 0, 0, 0
	for _, c := range pod.Spec.Containers {
		r := in.records[c.Name]
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
		case !in.ended() && shouldRestart(ctrd.KindApp, pod.Spec.RestartPolicy, code):
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
	case waiting > 0 && !in.ended():
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
