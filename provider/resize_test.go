package provider

import (
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/types"

	"github.com/vk-containerd/vk-containerd/internal/ctrd"
)

// resources builds requirements from "cpu/memory" request and limit
// strings; an empty part is not set.
func resources(reqCPU, reqMem, limCPU, limMem string) corev1.ResourceRequirements {
	list := func(cpu, mem string) corev1.ResourceList {
		l := corev1.ResourceList{}
		if cpu != "" {
			l[corev1.ResourceCPU] = resource.MustParse(cpu)
		}
		if mem != "" {
			l[corev1.ResourceMemory] = resource.MustParse(mem)
		}
		if len(l) == 0 {
			return nil
		}
		return l
	}
	return corev1.ResourceRequirements{Requests: list(reqCPU, reqMem), Limits: list(limCPU, limMem)}
}

// resized is pod with new resources for its first container, as the
// resize subresource leaves it: the next generation.
func resized(pod *corev1.Pod, r corev1.ResourceRequirements) *corev1.Pod {
	out := pod.DeepCopy()
	out.Spec.Containers[0].Resources = r
	out.Generation++
	return out
}

func TestResize(t *testing.T) {
	start := func(t *testing.T, r corev1.ResourceRequirements, policy ...corev1.ContainerResizePolicy) (*fakeNode, *worker, *corev1.Pod) {
		n := newNode(t)
		n.pods.cfg.Allocatable = corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("1"), corev1.ResourceMemory: resource.MustParse("1Gi")}
		pod := appPod(corev1.RestartPolicyAlways, nil, "app")
		pod.Generation = 1
		pod.Spec.Containers[0].Resources = r
		pod.Spec.Containers[0].ResizePolicy = policy
		w := n.worker(n.pods, pod)
		n.running(w, pod)
		return n, w, pod
	}
	statusOf := func(n *fakeNode) corev1.ContainerStatus {
		t.Helper()
		st := n.last()
		if len(st.ContainerStatuses) != 1 {
			t.Fatalf("container statuses: %v", st.ContainerStatuses)
		}
		return st.ContainerStatuses[0]
	}
	// another starts a second pod, of one container asking for cpu.
	another := func(n *fakeNode, name, cpu string) *worker {
		pod := appPod(corev1.RestartPolicyNever, nil, name)
		pod.UID, pod.Name = types.UID("uid-"+name), name
		pod.Spec.Containers[0].Resources = resources(cpu, "", "", "")
		w := n.worker(n.pods, pod)
		n.settle(w)
		return w
	}
	resizeConditions := func(n *fakeNode) []corev1.PodCondition {
		var out []corev1.PodCondition
		for _, c := range n.last().Conditions {
			if isResizeCondition(c.Type) {
				out = append(out, c)
			}
		}
		return out
	}

	t.Run("in place: the cgroup is updated, the status reports it, no restart", func(t *testing.T) {
		n, w, pod := start(t, resources("100m", "64Mi", "200m", "128Mi"))
		cs := statusOf(n)
		if !sameResources(*cs.Resources, resources("100m", "64Mi", "200m", "128Mi")) || !sameList(cs.AllocatedResources, pod.Spec.Containers[0].Resources.Requests) {
			t.Fatalf("before: resources %v, allocated %v", cs.Resources, cs.AllocatedResources)
		}
		want := resources("250m", "96Mi", "500m", "256Mi")
		pod = resized(pod, want)
		w.update(pod)
		n.settle(w)

		cur, _ := n.rt.latest("app")
		u := n.rt.updates[cur.ID]
		if u == nil || *u.CPU.Shares != 256 || *u.CPU.Quota != 50000 || *u.Memory.Limit != 256<<20 {
			t.Fatalf("cgroup update = %+v", u)
		}
		cs = statusOf(n)
		if cs.RestartCount != 0 || !sameResources(*cs.Resources, want) || !sameList(cs.AllocatedResources, want.Requests) {
			t.Errorf("after: restarts %d, resources %v, allocated %v", cs.RestartCount, cs.Resources, cs.AllocatedResources)
		}
		if got := n.last().ObservedGeneration; got != 2 {
			t.Errorf("observedGeneration = %d, want 2", got)
		}
		if rc := resizeConditions(n); len(rc) != 0 {
			t.Errorf("resize conditions after the resize: %v", rc)
		}
		if len(n.recorder.byReason(eventResizeStarted)) != 1 || len(n.recorder.byReason(eventResizeCompleted)) != 1 {
			t.Errorf("events: %v", n.recorder.events)
		}

		// Back down, after an agent restart: the adopted pod holds what its
		// container records, and a second resize applies from there.
		p2 := n.newPods()
		p2.cfg.Allocatable = n.pods.cfg.Allocatable
		w2 := n.worker(p2, pod)
		n.settle(w2)
		if g, _ := p2.granted(pod.UID); !sameResources(g.containers["app"], want) {
			t.Fatalf("adopted allocation = %v, want %v", g.containers["app"], want)
		}
		down := resources("100m", "64Mi", "200m", "128Mi")
		pod = resized(pod, down)
		w2.update(pod)
		n.settle(w2)
		if u := n.rt.updates[cur.ID]; *u.CPU.Quota != 20000 || *u.Memory.Limit != 128<<20 {
			t.Errorf("second update = %+v", u)
		}
		if cs := statusOf(n); cs.RestartCount != 0 || !sameResources(*cs.Resources, down) {
			t.Errorf("after the second resize: restarts %d, resources %v", cs.RestartCount, cs.Resources)
		}
	})

	t.Run("RestartContainer for memory: the container restarts with the new limit", func(t *testing.T) {
		n, w, pod := start(t, resources("100m", "64Mi", "", "128Mi"),
			corev1.ContainerResizePolicy{ResourceName: corev1.ResourceMemory, RestartPolicy: corev1.RestartContainer})
		want := resources("100m", "64Mi", "", "256Mi")
		w.update(resized(pod, want))
		n.settle(w)
		cur, _ := n.rt.latest("app")
		if ctrd.Attempt(cur.Labels) != 1 || cur.State != ctrd.StateRunning {
			t.Fatalf("latest attempt %d state %v, want 1 running", ctrd.Attempt(cur.Labels), cur.State)
		}
		if r, ok := recordedResources(&cur); !ok || !sameResources(r, want) {
			t.Errorf("new attempt records %v", r)
		}
		if len(n.rt.updates) != 0 {
			t.Errorf("updated in place too: %v", n.rt.updates)
		}
		if cs := statusOf(n); cs.RestartCount != 1 || !sameResources(*cs.Resources, want) {
			t.Errorf("restarts %d, resources %v", cs.RestartCount, cs.Resources)
		}
		if ev := n.recorder.byReason(eventKilling); len(ev) == 0 || ev[0].message != "Container app resize requires restart" {
			t.Errorf("Killing events: %v", ev)
		}
	})

	t.Run("deferred while other pods hold the room, done once they end", func(t *testing.T) {
		n, w, pod := start(t, resources("200m", "", "", ""))
		ow := another(n, "other", "600m")

		w.update(resized(pod, resources("500m", "", "", "")))
		n.settle(w)
		rc := resizeConditions(n)
		if len(rc) != 1 || rc[0].Type != corev1.PodResizePending || rc[0].Reason != corev1.PodReasonDeferred ||
			rc[0].Message != "Node didn't have enough resource: cpu, requested: 500, used: 600, capacity: 1000" || rc[0].ObservedGeneration != 2 {
			t.Fatalf("conditions: %+v", rc)
		}
		if cs := statusOf(n); !sameList(cs.AllocatedResources, resources("200m", "", "", "").Requests) {
			t.Errorf("allocated while deferred: %v", cs.AllocatedResources)
		}
		if ev := n.recorder.byReason(eventResizeDeferred); len(ev) != 1 || !strings.HasPrefix(ev[0].message, "Pod resize Deferred: {") {
			t.Errorf("ResizeDeferred events: %v", ev)
		}

		ow.requestDelete(ow.podWithStatus())
		n.settle(ow) // gone: its share is free
		select {
		case <-w.kickc:
		default:
			t.Fatal("the deferred pod was not woken")
		}
		n.settle(w)
		if rc := resizeConditions(n); len(rc) != 0 {
			t.Errorf("conditions after the room freed: %v", rc)
		}
		if cs := statusOf(n); !sameResources(*cs.Resources, resources("500m", "", "", "")) {
			t.Errorf("resources: %v", cs.Resources)
		}
	})

	t.Run("a memory limit below the usage: in progress with the error, applied once usage drops", func(t *testing.T) {
		n, w, pod := start(t, resources("", "", "", "128Mi"))
		cur, _ := n.rt.latest("app")
		n.rt.usage = map[string]uint64{cur.ID: 100 << 20}
		w.update(resized(pod, resources("", "", "", "64Mi")))
		n.settle(w)
		rc := resizeConditions(n)
		want := `cannot decrease memory limits: attempting to set container "app" memory limit (67108864) below current usage (104857600)`
		if len(rc) != 1 || rc[0].Type != corev1.PodResizeInProgress || rc[0].Reason != corev1.PodReasonError || rc[0].Message != want {
			t.Fatalf("conditions: %+v", rc)
		}
		if n.rt.updates[cur.ID] != nil {
			t.Error("updated below the usage")
		}
		n.rt.usage[cur.ID] = 10 << 20
		w.kick()
		n.settle(w)
		if rc := resizeConditions(n); len(rc) != 0 {
			t.Errorf("conditions once applied: %v", rc)
		}
		if u := n.rt.updates[cur.ID]; u == nil || *u.Memory.Limit != 64<<20 {
			t.Errorf("update = %+v", u)
		}
	})

	t.Run("pod-level resources: infeasible", func(t *testing.T) {
		n, w, pod := start(t, resources("100m", "", "", ""))
		next := pod.DeepCopy()
		next.Generation++
		next.Spec.Resources = &corev1.ResourceRequirements{Limits: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("1")}}
		w.update(next)
		n.settle(w)
		rc := resizeConditions(n)
		if len(rc) != 1 || rc[0].Type != corev1.PodResizePending || rc[0].Reason != corev1.PodReasonInfeasible || rc[0].Message != podLevelInfeasible {
			t.Fatalf("conditions: %+v", rc)
		}
		if len(n.recorder.byReason(eventResizeInfeasible)) != 1 {
			t.Errorf("events: %v", n.recorder.events)
		}
	})

	t.Run("a memory-backed emptyDir's size: infeasible", func(t *testing.T) {
		n := newNode(t)
		pod := appPod(corev1.RestartPolicyAlways, nil, "app")
		size := resource.MustParse("32Mi")
		pod.Spec.Volumes = []corev1.Volume{{Name: "m", VolumeSource: corev1.VolumeSource{
			EmptyDir: &corev1.EmptyDirVolumeSource{Medium: corev1.StorageMediumMemory, SizeLimit: &size}}}}
		w := n.worker(n.pods, pod)
		n.running(w, pod)
		next := pod.DeepCopy()
		next.Generation++
		bigger := resource.MustParse("64Mi")
		next.Spec.Volumes[0].EmptyDir.SizeLimit = &bigger
		// virtual-kubelet passes no update that leaves the containers alone:
		// the spec comes with the API's version of the pod.
		grace := int64(1)
		next.DeletionGracePeriodSeconds = &grace // the API's, never to be written back by the node
		n.pods.ReconcileStatus(next)
		if mine := w.podWithStatus(); mine.DeletionGracePeriodSeconds != nil || mine.Generation != next.Generation {
			t.Fatalf("the worker took the API's metadata (%v) or not its generation (%d)", mine.DeletionGracePeriodSeconds, mine.Generation)
		}
		n.settle(w)
		rc := resizeConditions(n)
		if len(rc) != 1 || rc[0].Reason != corev1.PodReasonInfeasible || rc[0].Message != memoryVolumeInfeasible {
			t.Fatalf("conditions: %+v", rc)
		}
		w.update(pod) // the size back as it was: nothing pending
		n.settle(w)
		if rc := resizeConditions(n); len(rc) != 0 {
			t.Errorf("conditions after the revert: %+v", rc)
		}
	})

	t.Run("a new pod that does not fit the node's allocatable: OutOfcpu", func(t *testing.T) {
		n, _, _ := start(t, resources("700m", "", "", ""))
		bw := another(n, "big", "400m")
		st := bw.currentStatus()
		if bw.state != stateTerminal || st.Phase != corev1.PodFailed || st.Reason != "OutOfcpu" ||
			st.Message != "Pod was rejected: Node didn't have enough resource: cpu, requested: 400, used: 700, capacity: 1000" {
			t.Errorf("state %s phase %s reason %q message %q", bw.state, st.Phase, st.Reason, st.Message)
		}
	})
}

func TestAllocationRequests(t *testing.T) {
	pod := appPod(corev1.RestartPolicyAlways, []corev1.Container{initC("init"), sidecarC("side")}, "a", "b")
	pod.Spec.InitContainers[0].Resources = resources("900m", "", "", "")
	pod.Spec.InitContainers[1].Resources = resources("100m", "", "", "")
	pod.Spec.Containers[0].Resources = resources("200m", "", "", "")
	pod.Spec.Containers[1].Resources = resources("300m", "", "", "")
	pod.Spec.Overhead = corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("10m")}
	// The init container runs alone (the sidecar starts after it): 900m; then
	// sidecar and apps: 600m. The larger, plus the overhead.
	got := allocationOf(pod).requests(pod)
	if cpu := got[corev1.ResourceCPU]; cpu.MilliValue() != 910 {
		t.Errorf("cpu = %s, want 910m", cpu.String())
	}
	pod.Spec.InitContainers[0], pod.Spec.InitContainers[1] = pod.Spec.InitContainers[1], pod.Spec.InitContainers[0]
	// Now the sidecar runs beside the init container: 1000m.
	got = allocationOf(pod).requests(pod)
	if cpu := got[corev1.ResourceCPU]; cpu.MilliValue() != 1010 {
		t.Errorf("sidecar first: cpu = %s, want 1010m", cpu.String())
	}
}

// A resize asked for while the sandbox is still being made does not fail
// the admitted pod: it waits, Deferred, like one of a running pod.
func TestResizeBeforeRunning(t *testing.T) {
	n := newNode(t)
	n.pods.cfg.Allocatable = corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("1")}
	n.sandboxes.failEnsure = 1
	pod := appPod(corev1.RestartPolicyAlways, nil, "app")
	pod.Spec.Containers[0].Resources = resources("200m", "", "", "")
	w := n.worker(n.pods, pod)
	n.images.present[testImage] = true
	n.settle(w)
	if w.state != stateCreating {
		t.Fatalf("state %s, want creating (the sandbox failed once)", w.state)
	}
	w.update(resized(pod, resources("2", "", "", "")))
	n.settle(w)
	if w.state != stateRunning {
		t.Fatalf("state %s, want running: the pod was admitted", w.state)
	}
	st := n.last()
	if cs := st.ContainerStatuses[0]; !sameList(cs.AllocatedResources, resources("200m", "", "", "").Requests) {
		t.Errorf("allocated %v, want the admitted 200m", cs.AllocatedResources)
	}
	if c, _ := condition(st.Conditions, corev1.PodResizePending); c.Reason != corev1.PodReasonDeferred {
		t.Errorf("PodResizePending = %+v, want Deferred", c)
	}
}
