package provider

import (
	"fmt"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/types"

	"github.com/vk-containerd/vk-containerd/internal/ctrd"
)

// allocation is what the node granted a pod: each container's resources
// (app and init containers, by name) and the pod-level resources. A
// container starts with its allocation, and an in-place resize changes the
// allocation first, then the running containers (resize.go).
type allocation struct {
	containers map[string]corev1.ResourceRequirements
	pod        *corev1.ResourceRequirements
	// memoryVolumes are the size limits of the memory-backed emptyDirs, by
	// volume name: a resize may ask to change them too.
	memoryVolumes corev1.ResourceList
}

// allocationOf is the allocation the pod's spec asks for.
func allocationOf(pod *corev1.Pod) allocation {
	a := allocation{containers: map[string]corev1.ResourceRequirements{}}
	for _, cs := range [][]corev1.Container{pod.Spec.InitContainers, pod.Spec.Containers} {
		for _, c := range cs {
			a.containers[c.Name] = *c.Resources.DeepCopy()
		}
	}
	if pod.Spec.Resources != nil {
		a.pod = pod.Spec.Resources.DeepCopy()
	}
	for _, v := range pod.Spec.Volumes {
		if ed := v.EmptyDir; ed != nil && ed.Medium == corev1.StorageMediumMemory && ed.SizeLimit != nil {
			if a.memoryVolumes == nil {
				a.memoryVolumes = corev1.ResourceList{}
			}
			a.memoryVolumes[corev1.ResourceName(v.Name)] = ed.SizeLimit.DeepCopy()
		}
	}
	return a
}

// equal compares the resources of every container and of the pod.
func (a allocation) equal(b allocation) bool {
	if len(a.containers) != len(b.containers) || !equality.Semantic.DeepEqual(a.pod, b.pod) || !sameList(a.memoryVolumes, b.memoryVolumes) {
		return false
	}
	for name, r := range a.containers {
		o, ok := b.containers[name]
		if !ok || !sameResources(r, o) {
			return false
		}
	}
	return true
}

// sameResources compares requests and limits by value: 1000m is 1.
func sameResources(a, b corev1.ResourceRequirements) bool {
	return sameList(a.Requests, b.Requests) && sameList(a.Limits, b.Limits)
}

func sameList(a, b corev1.ResourceList) bool {
	if len(a) != len(b) {
		return false
	}
	for name, q := range a {
		o, ok := b[name]
		if !ok || q.Cmp(o) != 0 {
			return false
		}
	}
	return true
}

// requests is what the pod takes of the node with this allocation, as the
// scheduler and the kubelet count it: the pod-level requests when set, else
// the larger of the long-running containers' sum (app containers and
// sidecars) and what the pod needs while each regular init container runs
// (it, and the sidecars started before it); plus the pod's overhead.
func (a allocation) requests(pod *corev1.Pod) corev1.ResourceList {
	out := corev1.ResourceList{}
	if a.pod != nil && len(a.pod.Requests) > 0 {
		addList(out, a.pod.Requests)
	} else {
		sidecars := corev1.ResourceList{}
		for _, c := range pod.Spec.InitContainers {
			req := a.containers[c.Name].Requests
			if kindOfInit(&c) == ctrd.KindSidecar {
				addList(sidecars, req)
				continue
			}
			during := corev1.ResourceList{}
			addList(during, sidecars)
			addList(during, req)
			maxList(out, during)
		}
		running := corev1.ResourceList{}
		addList(running, sidecars)
		for _, c := range pod.Spec.Containers {
			addList(running, a.containers[c.Name].Requests)
		}
		maxList(out, running)
	}
	addList(out, pod.Spec.Overhead)
	return out
}

func addList(to, from corev1.ResourceList) {
	for name, q := range from {
		sum := to[name]
		sum.Add(q)
		to[name] = sum
	}
}

func maxList(to, from corev1.ResourceList) {
	for name, q := range from {
		if cur, ok := to[name]; !ok || q.Cmp(cur) > 0 {
			to[name] = q.DeepCopy()
		}
	}
}

// grant is an allocation held by an admitted pod, with the node's share it takes.
type grant struct {
	allocation
	requests corev1.ResourceList
}

// shortage is why an allocation does not fit the node: the kubelet's
// InsufficientResourceError, in millicores for cpu and bytes for memory.
type shortage struct {
	resource                     corev1.ResourceName
	requested, used, allocatable int64
}

func (s shortage) Error() string {
	return fmt.Sprintf("Node didn't have enough resource: %s, requested: %d, used: %d, capacity: %d",
		s.resource, s.requested, s.used, s.allocatable)
}

// reason is the kubelet's reason for a pod refused for lack of the resource.
func (s shortage) reason() string {
	switch s.resource {
	case corev1.ResourceCPU:
		return "OutOfcpu"
	case corev1.ResourceMemory:
		return "OutOfmemory"
	}
	return "OutOf" + string(s.resource)
}

// allocate grants the pod a, unless what the node's other admitted pods
// hold leaves too little of its allocatable cpu or memory; then it grants
// nothing and says what is short. An adopted pod (force) was admitted
// before and is granted a whatever the others hold. The check and the grant
// are one step, so two pods cannot take the same share.
func (p *Pods) allocate(uid types.UID, pod *corev1.Pod, a allocation, force bool) *shortage {
	req := a.requests(pod)
	p.mu.Lock()
	defer p.mu.Unlock()
	if !force {
		for _, name := range []corev1.ResourceName{corev1.ResourceCPU, corev1.ResourceMemory} {
			capacity, ok := p.cfg.Allocatable[name]
			want := req[name]
			if !ok || want.IsZero() {
				continue
			}
			used := resource.Quantity{}
			for other, g := range p.grants {
				if other != uid {
					used.Add(g.requests[name])
				}
			}
			total := used.DeepCopy()
			total.Add(want)
			if total.Cmp(capacity) > 0 {
				return &shortage{name, amount(name, want), amount(name, used), amount(name, capacity)}
			}
		}
	}
	p.grants[uid] = grant{allocation: a, requests: req}
	return nil
}

// amount is a quantity as the kubelet prints it: cpu in millicores.
func amount(name corev1.ResourceName, q resource.Quantity) int64 {
	if name == corev1.ResourceCPU {
		return q.MilliValue()
	}
	return q.Value()
}

// granted is the pod's allocation, and whether it has one.
func (p *Pods) granted(uid types.UID) (allocation, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	g, ok := p.grants[uid]
	return g.allocation, ok
}

// release gives up what the pod was granted (it is done: terminal or gone),
// and has the pods whose resize waits for room try again.
func (p *Pods) release(uid types.UID) {
	p.mu.Lock()
	waiting := p.dropGrantLocked(uid)
	p.mu.Unlock()
	for _, w := range waiting {
		w.kick()
	}
}

// dropGrantLocked removes what the pod holds and returns the workers whose
// resize waits for room, to be kicked once p.mu is released.
func (p *Pods) dropGrantLocked(uid types.UID) []*worker {
	delete(p.grants, uid)
	delete(p.hostPorts, uid)
	delete(p.deferred, uid)
	var waiting []*worker
	for other := range p.deferred {
		if w := p.workers[other]; w != nil {
			waiting = append(waiting, w)
		}
	}
	return waiting
}

// deferResize marks the pod's resize as waiting for room, or not.
func (p *Pods) deferResize(uid types.UID, waiting bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if waiting {
		p.deferred[uid] = struct{}{}
	} else {
		delete(p.deferred, uid)
	}
}
