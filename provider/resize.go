package provider

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/virtual-kubelet/virtual-kubelet/log"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/vk-containerd/vk-containerd/internal/ctrd"
	"github.com/vk-containerd/vk-containerd/internal/podspec"
)

// An in-place resize, as the kubelet does it. The API server takes a new
// cpu or memory of a running pod's containers (the resize subresource);
// the node first grants it, against its allocatable and what its other
// pods hold (PodResizePending, reason Deferred, while it cannot), then
// applies it to each running container: runc updates the cgroup, or, where
// the container's resizePolicy says RestartContainer for a resource that
// changed, the container restarts with the new resources
// (PodResizeInProgress until every running container has them). The
// resources a container's cgroup has are recorded on it (LabelResources),
// so they survive an agent restart.

// resizeConditions are the node's resize conditions of the pod, nil when
// they do not hold.
type resizeConditions struct {
	pending    *corev1.PodCondition
	inProgress *corev1.PodCondition
}

// list is the conditions that hold.
func (rc resizeConditions) list() []corev1.PodCondition {
	var out []corev1.PodCondition
	for _, c := range []*corev1.PodCondition{rc.pending, rc.inProgress} {
		if c != nil {
			out = append(out, *c)
		}
	}
	return out
}

// isResizeCondition tells the conditions the node owns for resizes.
func isResizeCondition(t corev1.PodConditionType) bool {
	return t == corev1.PodResizePending || t == corev1.PodResizeInProgress
}

// Event reasons of resizes, the kubelet's.
const (
	eventResizeStarted    = "ResizeStarted"
	eventResizeCompleted  = "ResizeCompleted"
	eventResizeDeferred   = "ResizeDeferred"
	eventResizeInfeasible = "ResizeInfeasible"
)

// Why the node refuses a resize. It does not apply pod-level resources to
// a pod cgroup, so it cannot change them either; and it does not remount a
// memory-backed emptyDir with a new size (neither does a kubelet 1.37,
// whose feature for it is alpha and off).
const (
	podLevelInfeasible     = "In-place resize of pod-level resources is not supported on this node"
	memoryVolumeInfeasible = "Memory-backed emptyDir volume resize is not supported on this node"
)

// syncResize grants a resize the pod's spec asks for, if it can, and
// applies what is granted to the running containers. It reports whether it
// changed a container.
func (w *worker) syncResize(ctx context.Context, pod *corev1.Pod, now time.Time) bool {
	granted, ok := w.p.granted(w.uid)
	if !ok {
		return false
	}
	if want := allocationOf(pod); !want.equal(granted) {
		if w.admitResize(pod, granted, want, now) {
			granted = want
		}
	} else {
		w.setPending(pod, "", "", now)
		w.p.deferResize(w.uid, false)
	}
	changed, busy := false, false
	var errs []string
	for _, c := range resizableContainers(pod) {
		r := w.records[c.Name]
		if r != nil && r.replaced {
			busy = true // restarting with its new resources
		}
		if r == nil || !r.running() {
			continue
		}
		target := granted.containers[c.Name]
		applied := appliedResources(r.current, c)
		if sameResources(applied, target) {
			continue
		}
		if needsRestart(c, applied, target) {
			w.event(pod, corev1.EventTypeNormal, eventKilling, "Container %s resize requires restart", c.Name)
			r.replaced = true
			w.stopProber(c.Name)
			w.stopGroup(ctx, pod, []*tracked{r}, gracePeriod(pod))
			changed = true
			continue
		}
		if err := w.applyResources(ctx, c.Name, r.current, applied, target); err != nil {
			log.G(ctx).WithError(err).WithField("container", c.Name).Warn("in-place resize failed")
			errs = append(errs, err.Error())
			continue
		}
		changed = true
	}
	w.setInProgress(pod, changed || busy || len(errs) > 0, strings.Join(errs, "; "), now)
	return changed
}

// admitResize grants the resources the spec asks for when the node can,
// and reports whether it did; otherwise the resize is pending.
func (w *worker) admitResize(pod *corev1.Pod, granted, want allocation, now time.Time) bool {
	if !equality.Semantic.DeepEqual(want.pod, granted.pod) {
		w.setPending(pod, corev1.PodReasonInfeasible, podLevelInfeasible, now)
		return false
	}
	if !sameList(want.memoryVolumes, granted.memoryVolumes) {
		w.setPending(pod, corev1.PodReasonInfeasible, memoryVolumeInfeasible, now)
		return false
	}
	if short := w.p.allocate(w.uid, pod, want, false); short != nil {
		w.p.deferResize(w.uid, true)
		w.setPending(pod, corev1.PodReasonDeferred, short.Error(), now)
		return false
	}
	w.p.deferResize(w.uid, false)
	w.setPending(pod, "", "", now)
	w.resize.inProgress = resizeCondition(corev1.PodResizeInProgress, "", "", pod.Generation, now)
	w.event(pod, corev1.EventTypeNormal, eventResizeStarted, "Pod resize started: %s", resizeSummary(pod, ""))
	return true
}

// setPending sets PodResizePending with reason and message, or clears it
// when reason is empty. A new reason or generation is told in an event.
func (w *worker) setPending(pod *corev1.Pod, reason, message string, now time.Time) {
	prev := w.resize.pending
	if reason == "" {
		w.resize.pending = nil
		return
	}
	if prev != nil && prev.Reason == reason && prev.Message == message && prev.ObservedGeneration == pod.Generation {
		return
	}
	c := resizeCondition(corev1.PodResizePending, reason, message, pod.Generation, now)
	if prev != nil {
		c.LastTransitionTime = prev.LastTransitionTime
	}
	w.resize.pending = c
	if prev == nil || prev.Reason != reason || prev.ObservedGeneration != pod.Generation {
		event := eventResizeDeferred
		if reason == corev1.PodReasonInfeasible {
			event = eventResizeInfeasible
		}
		w.event(pod, corev1.EventTypeWarning, event, "Pod resize %s: %s", reason, resizeSummary(pod, message))
	}
}

// setInProgress keeps PodResizeInProgress while a granted resize is not
// applied everywhere (busy), with reason Error and the message when
// applying it failed; it clears the condition, and tells so, once done.
func (w *worker) setInProgress(pod *corev1.Pod, busy bool, failed string, now time.Time) {
	cur := w.resize.inProgress
	if !busy {
		if cur != nil {
			w.resize.inProgress = nil
			w.event(pod, corev1.EventTypeNormal, eventResizeCompleted, "Pod resize completed: %s", resizeSummary(pod, ""))
		}
		return
	}
	reason := ""
	if failed != "" {
		reason = corev1.PodReasonError
	}
	if cur == nil {
		cur = resizeCondition(corev1.PodResizeInProgress, "", "", pod.Generation, now)
	}
	if cur.Reason != reason || cur.Message != failed {
		cur.Reason, cur.Message = reason, failed
		cur.LastProbeTime = metav1.NewTime(now)
	}
	w.resize.inProgress = cur
}

func resizeCondition(t corev1.PodConditionType, reason, message string, generation int64, now time.Time) *corev1.PodCondition {
	return &corev1.PodCondition{
		Type: t, Status: corev1.ConditionTrue, Reason: reason, Message: message,
		ObservedGeneration: generation, LastProbeTime: metav1.NewTime(now), LastTransitionTime: metav1.NewTime(now),
	}
}

// grantedResources are the resources container c starts with: those the
// node granted it, which differ from the spec's while a resize is pending.
func (w *worker) grantedResources(c *corev1.Container) corev1.ResourceRequirements {
	if a, ok := w.p.granted(w.uid); ok {
		if r, ok := a.containers[c.Name]; ok {
			return r
		}
	}
	return *c.Resources.DeepCopy()
}

// resizableContainers are the containers a resize can change while they
// run: the app containers and the sidecars.
func resizableContainers(pod *corev1.Pod) []*corev1.Container {
	var out []*corev1.Container
	for i := range pod.Spec.InitContainers {
		if c := &pod.Spec.InitContainers[i]; kindOfInit(c) == ctrd.KindSidecar {
			out = append(out, c)
		}
	}
	for i := range pod.Spec.Containers {
		out = append(out, &pod.Spec.Containers[i])
	}
	return out
}

// needsRestart tells whether a resource that changes has the
// RestartContainer resize policy in c.
func needsRestart(c *corev1.Container, from, to corev1.ResourceRequirements) bool {
	for _, p := range c.ResizePolicy {
		if p.RestartPolicy != corev1.RestartContainer {
			continue
		}
		fromReq, fromLim := from.Requests[p.ResourceName], from.Limits[p.ResourceName]
		if fromReq.Cmp(to.Requests[p.ResourceName]) != 0 || fromLim.Cmp(to.Limits[p.ResourceName]) != 0 {
			return true
		}
	}
	return false
}

// applyResources updates a running container's cgroup from one set of
// resources to another and records them on the container. Like the
// kubelet, it refuses to set a memory limit below what the container uses.
func (w *worker) applyResources(ctx context.Context, name string, cur *ctrd.ContainerStatus, from, to corev1.ResourceRequirements) error {
	if limit, lowered := memoryLimitLowered(from, to); lowered {
		usages, err := w.p.cfg.Runtime.TaskUsages(ctx)
		if err != nil {
			return fmt.Errorf("unable to read memory usage of container %q: %w", name, err)
		}
		if used := usages[cur.ID].MemoryUsage; used >= uint64(limit) {
			return fmt.Errorf("cannot decrease memory limits: attempting to set container %q memory limit (%d) below current usage (%d)", name, limit, used)
		}
	}
	if err := w.p.cfg.Runtime.UpdateResources(ctx, cur.ID, podspec.ResizedResources(to)); err != nil {
		return fmt.Errorf("update the resources of container %q: %w", name, err)
	}
	return w.p.cfg.Runtime.SetContainerLabels(ctx, cur.ID, map[string]string{ctrd.LabelResources: resourcesLabel(to)})
}

// memoryLimitLowered returns the new memory limit when it is below the old
// one (or there was none).
func memoryLimitLowered(from, to corev1.ResourceRequirements) (int64, bool) {
	limit := to.Limits.Memory().Value()
	if limit <= 0 {
		return 0, false
	}
	old := from.Limits.Memory().Value()
	return limit, old <= 0 || limit < old
}

// resourcesLabel records resources as LabelResources holds them.
func resourcesLabel(r corev1.ResourceRequirements) string {
	data, _ := json.Marshal(corev1.ResourceRequirements{Requests: r.Requests, Limits: r.Limits})
	return string(data)
}

// appliedResources are the resources an attempt's cgroup has, as recorded
// on it; an attempt that records none (made by an older agent) has its
// container's resources in the spec.
func appliedResources(cur *ctrd.ContainerStatus, c *corev1.Container) corev1.ResourceRequirements {
	if r, ok := recordedResources(cur); ok {
		return r
	}
	return *c.Resources.DeepCopy()
}

// recordedResources reads an attempt's LabelResources.
func recordedResources(cur *ctrd.ContainerStatus) (corev1.ResourceRequirements, bool) {
	var r corev1.ResourceRequirements
	v, ok := cur.Labels[ctrd.LabelResources]
	return r, ok && json.Unmarshal([]byte(v), &r) == nil
}

// adoptedAllocation is what an adopted pod holds: the resources its
// attempts record, and the spec's for containers without one.
func (w *worker) adoptedAllocation(pod *corev1.Pod) allocation {
	a := allocationOf(pod)
	for name, r := range w.records {
		if r.current == nil {
			continue
		}
		if res, ok := recordedResources(r.current); ok {
			a.containers[name] = res
		}
	}
	return a
}

// resizeSummary is the kubelet's account of a resize in its events: each
// container's resources in the spec, the generation, and the error if any.
func resizeSummary(pod *corev1.Pod, errMessage string) string {
	type container struct {
		Name      string                      `json:"name"`
		Resources corev1.ResourceRequirements `json:"resources,omitempty"`
	}
	summary := struct {
		InitContainers []container `json:"initContainers,omitempty"`
		Containers     []container `json:"containers,omitempty"`
		Generation     int64       `json:"generation"`
		Error          string      `json:"error,omitempty"`
	}{Generation: pod.Generation, Error: errMessage}
	for _, c := range pod.Spec.InitContainers {
		summary.InitContainers = append(summary.InitContainers, container{c.Name, c.Resources})
	}
	for _, c := range pod.Spec.Containers {
		summary.Containers = append(summary.Containers, container{c.Name, c.Resources})
	}
	data, _ := json.Marshal(summary)
	return string(data)
}
