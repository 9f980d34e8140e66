//go:build e2e

package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
)

// cgroupLimits are a container's cpu quota (microseconds a 100 ms period,
// -1 for none) and memory limit in bytes, as its cgroup on the host says.
type cgroupLimits struct{ quota, memory int64 }

// hostCgroup reads a running container's limits from the node's host. The
// container names its cgroup in /proc/1/cgroup: the host's path under cgroup
// v1, "/" in a cgroup namespace (v2). Where the node's host is itself a
// container (kind), its cgroup tree starts lower, at containerd's own
// path for the container, /vk-containerd/<id>: that is tried too.
func hostCgroup(t *testing.T, ns, pod, container string) cgroupLimits {
	t.Helper()
	out, errOut, code := kubectl(t, "", "-n", ns, "exec", pod, "-c", container, "--", "cat", "/proc/1/cgroup")
	if code != 0 {
		t.Fatalf("read the cgroup of %s/%s: %s", pod, container, errOut)
	}
	v1Path := "" // the path of the cpu controller's line; none under cgroup v2
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		parts := strings.SplitN(line, ":", 3)
		if len(parts) != 3 {
			continue
		}
		for _, ctl := range strings.Split(parts[1], ",") {
			if ctl == "cpu" {
				v1Path = parts[2]
			}
		}
	}
	v2 := v1Path == ""
	id := strings.TrimPrefix(containerStatus(getPod(t, ns, pod), container).ContainerID, "containerd://")
	paths := []string{"/vk-containerd/" + id}
	if v1Path != "" && v1Path != paths[0] {
		paths = append([]string{v1Path}, paths...)
	}
	number := func(s string) int64 {
		s = strings.TrimSpace(s)
		if s == "max" {
			return -1
		}
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			t.Fatalf("cgroup value %q: %v", s, err)
		}
		return n
	}
	for _, p := range paths {
		if v2 {
			quota, ok := tryNodeFile("/sys/fs/cgroup" + p + "/cpu.max")
			if !ok {
				continue
			}
			quota, _, _ = strings.Cut(quota, " ")
			return cgroupLimits{quota: number(quota), memory: number(nodeFile(t, "/sys/fs/cgroup"+p+"/memory.max"))}
		}
		if quota, ok := tryNodeFile("/sys/fs/cgroup/cpu" + p + "/cpu.cfs_quota_us"); ok {
			return cgroupLimits{quota: number(quota), memory: number(nodeFile(t, "/sys/fs/cgroup/memory"+p+"/memory.limit_in_bytes"))}
		}
	}
	t.Fatalf("no cgroup of %s/%s on the node's host at %v", pod, container, paths)
	return cgroupLimits{}
}

// tryNodeFile reads a file of the node's host, if it is there.
func tryNodeFile(path string) (string, bool) {
	cmdline := os.Getenv("VKC_E2E_CONTROL")
	out, err := exec.Command("sh", "-c", cmdline+` "$@"`, "control", "host-read", path).Output()
	return string(out), err == nil
}

func mustJSON(t *testing.T, v any) string {
	t.Helper()
	data, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(data)
}

func getPod(t *testing.T, ns, name string) *corev1.Pod {
	t.Helper()
	p, err := client.CoreV1().Pods(ns).Get(context.Background(), name, metav1.GetOptions{})
	if err != nil {
		t.Fatalf("get pod %s: %v", name, err)
	}
	return p
}

// limits builds requirements from requests and limits given as
// "cpu=100m,memory=32Mi".
func limits(requests, lim string) corev1.ResourceRequirements {
	list := func(s string) corev1.ResourceList {
		if s == "" {
			return nil
		}
		l := corev1.ResourceList{}
		for _, kv := range strings.Split(s, ",") {
			k, v, _ := strings.Cut(kv, "=")
			l[corev1.ResourceName(k)] = resource.MustParse(v)
		}
		return l
	}
	return corev1.ResourceRequirements{Requests: list(requests), Limits: list(lim)}
}

// resizePod asks for new resources of one container through the resize
// subresource, as `kubectl patch --subresource resize` does.
func resizePod(t *testing.T, ns, pod, container string, r corev1.ResourceRequirements) *corev1.Pod {
	t.Helper()
	patch := fmt.Sprintf(`{"spec":{"containers":[{"name":%q,"resources":%s}]}}`, container, mustJSON(t, r))
	out, err := client.CoreV1().Pods(ns).Patch(context.Background(), pod, types.StrategicMergePatchType, []byte(patch), metav1.PatchOptions{}, "resize")
	if err != nil {
		t.Fatalf("resize %s/%s: %v", pod, container, err)
	}
	return out
}

// resized waits until the node reports the pod's generation with no resize
// pending or in progress, and the container with resources r.
func resized(t *testing.T, ns, pod, container string, generation int64, r corev1.ResourceRequirements) *corev1.Pod {
	t.Helper()
	return waitPod(t, ns, pod, 60*time.Second, "resized", func(p *corev1.Pod) bool {
		if p.Status.ObservedGeneration < generation || resizeCondition(p) != nil || !isRunningReady(p) {
			return false
		}
		cs := containerStatus(p, container)
		return cs.Resources != nil && sameList(cs.Resources.Requests, r.Requests) && sameList(cs.Resources.Limits, r.Limits) &&
			sameList(cs.AllocatedResources, r.Requests)
	})
}

// resizeCondition is the pod's PodResizePending or PodResizeInProgress condition, if any.
func resizeCondition(p *corev1.Pod) *corev1.PodCondition {
	for i, c := range p.Status.Conditions {
		if c.Type == corev1.PodResizePending || c.Type == corev1.PodResizeInProgress {
			return &p.Status.Conditions[i]
		}
	}
	return nil
}

func sameList(a, b corev1.ResourceList) bool {
	if len(a) != len(b) {
		return false
	}
	for k, q := range a {
		if o, ok := b[k]; !ok || q.Cmp(o) != 0 {
			return false
		}
	}
	return true
}

// TestInPlaceResize resizes a running container up and down without a
// restart, reading its cgroup on the host each time, keeps the resized
// limits across an agent restart, and restarts only the container whose
// resize policy asks for it.
func TestInPlaceResize(t *testing.T) {
	requireNode(t, "VKC_E2E_CONTROL is not set: the test reads the container's cgroup on the node's host and restarts the agent")
	ns := testNamespace(t)
	pod := podSpec("resize", busybox, "sleep", "3600")
	pod.Spec.Containers[0].Name = "inplace"
	pod.Spec.Containers[0].Resources = limits("cpu=100m,memory=32Mi", "cpu=200m,memory=64Mi")
	restart := *pod.Spec.Containers[0].DeepCopy()
	restart.Name = "restart"
	restart.ResizePolicy = []corev1.ContainerResizePolicy{{ResourceName: corev1.ResourceMemory, RestartPolicy: corev1.RestartContainer}}
	pod.Spec.Containers = append(pod.Spec.Containers, restart)
	createPod(t, ns, pod)
	p := waitPod(t, ns, "resize", 60*time.Second, "Running", isRunningReady)
	id := containerStatus(p, "inplace").ContainerID
	if got := hostCgroup(t, ns, "resize", "inplace"); got != (cgroupLimits{20000, 64 << 20}) {
		t.Fatalf("cgroup at the start = %+v, want quota 20000 and 64Mi", got)
	}

	step := func(what string, r corev1.ResourceRequirements, want cgroupLimits) {
		t.Helper()
		start := time.Now()
		out := resizePod(t, ns, "resize", "inplace", r)
		p := resized(t, ns, "resize", "inplace", out.Generation, r)
		t.Logf("%s: done in %s", what, time.Since(start).Round(time.Millisecond))
		if cs := containerStatus(p, "inplace"); cs.ContainerID != id || cs.RestartCount != 0 {
			t.Errorf("%s: container %s with %d restarts, want %s running on", what, cs.ContainerID, cs.RestartCount, id)
		}
		if got := hostCgroup(t, ns, "resize", "inplace"); got != want {
			t.Errorf("%s: cgroup = %+v, want %+v", what, got, want)
		}
	}
	step("up", limits("cpu=200m,memory=32Mi", "cpu=400m,memory=128Mi"), cgroupLimits{40000, 128 << 20})
	down := limits("cpu=100m,memory=32Mi", "cpu=100m,memory=48Mi")
	step("down", down, cgroupLimits{10000, 48 << 20})

	control(t, "restart", "vk-containerd")
	time.Sleep(3 * time.Second)
	p = waitPod(t, ns, "resize", 60*time.Second, "Running after the agent restart", isRunningReady)
	if cs := containerStatus(p, "inplace"); cs.ContainerID != id || !sameList(cs.Resources.Limits, down.Limits) {
		t.Errorf("after the agent restart: container %s, limits %v; want %s with %v", cs.ContainerID, cs.Resources.Limits, id, down.Limits)
	}
	if got := hostCgroup(t, ns, "resize", "inplace"); got != (cgroupLimits{10000, 48 << 20}) {
		t.Errorf("cgroup after the agent restart = %+v, want the resized 10000 and 48Mi", got)
	}

	// Memory of the RestartContainer one: that container alone restarts, with the new limit.
	r := limits("cpu=100m,memory=32Mi", "cpu=200m,memory=96Mi")
	out := resizePod(t, ns, "resize", "restart", r)
	p = resized(t, ns, "resize", "restart", out.Generation, r)
	if a, b := containerStatus(p, "inplace").RestartCount, containerStatus(p, "restart").RestartCount; a != 0 || b != 1 {
		t.Errorf("restarts: inplace %d, restart %d; want 0 and 1", a, b)
	}
	if got := hostCgroup(t, ns, "resize", "restart"); got.memory != 96<<20 {
		t.Errorf("restarted container's memory limit = %d, want %d", got.memory, 96<<20)
	}
}

// TestResizeDeferredAndInfeasible: a resize the node has no room for waits
// (Deferred) until room is freed. One it could never grant, more than its
// allocatable, the API server refuses for the node (NodeCapacity), as with
// a kubelet 1.37, and the pod runs on as it was.
func TestResizeDeferredAndInfeasible(t *testing.T) {
	ns := testNamespace(t)
	ctx := context.Background()
	// Deferred: another pod takes all but 50m of the node's free cpu.
	node := getNode(ctx, t)
	free := node.Status.Allocatable[corev1.ResourceCPU]
	pods, err := client.CoreV1().Pods("").List(ctx, metav1.ListOptions{FieldSelector: "spec.nodeName=" + nodeName})
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range pods.Items {
		if p.Status.Phase == corev1.PodSucceeded || p.Status.Phase == corev1.PodFailed {
			continue
		}
		for _, c := range append(append([]corev1.Container{}, p.Spec.InitContainers...), p.Spec.Containers...) {
			free.Sub(c.Resources.Requests[corev1.ResourceCPU])
		}
	}
	small := podSpec("small", busybox, "sleep", "3600")
	small.Spec.Containers[0].Resources = limits("cpu=10m", "")
	createPod(t, ns, small)
	waitPod(t, ns, "small", 60*time.Second, "Running", isRunningReady)
	fill := free.DeepCopy()
	fill.Sub(resource.MustParse("60m"))
	if fill.Sign() <= 0 {
		t.Fatalf("the node has only %s of cpu free", free.String())
	}
	filler := podSpec("filler", busybox, "sleep", "3600")
	filler.Spec.Containers[0].Resources = corev1.ResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceCPU: fill}}
	createPod(t, ns, filler)
	waitPod(t, ns, "filler", 60*time.Second, "Running", isRunningReady)

	want := limits("cpu=200m", "")
	out := resizePod(t, ns, "small", "main", want)
	p := waitPod(t, ns, "small", 30*time.Second, "resize Deferred", func(p *corev1.Pod) bool {
		c := resizeCondition(p)
		return c != nil && c.Type == corev1.PodResizePending && c.Reason == corev1.PodReasonDeferred
	})
	if c := resizeCondition(p); !strings.HasPrefix(c.Message, "Node didn't have enough resource: cpu, requested: ") {
		t.Errorf("Deferred message = %q", c.Message)
	}
	if cs := containerStatus(p, "main"); !sameList(cs.AllocatedResources, limits("cpu=10m", "").Requests) {
		t.Errorf("allocated while deferred: %v, want the old 10m", cs.AllocatedResources)
	}
	zero := int64(0)
	deletePodAndWait(t, ns, "filler", &zero, 30*time.Second)
	resized(t, ns, "small", "main", out.Generation, want)

	huge := node.Status.Allocatable[corev1.ResourceCPU]
	huge.Add(huge)
	patch := fmt.Sprintf(`{"spec":{"containers":[{"name":"main","resources":{"requests":{"cpu":%q}}}]}}`, huge.String())
	_, err = client.CoreV1().Pods(ns).Patch(ctx, "small", types.StrategicMergePatchType, []byte(patch), metav1.PatchOptions{}, "resize")
	if err == nil || !strings.Contains(err.Error(), "node didn't have enough allocatable resources") {
		t.Fatalf("resize beyond the node's allocatable: err = %v", err)
	}
	p = getPod(t, ns, "small")
	if cs := containerStatus(p, "main"); !isRunningReady(p) || cs.RestartCount != 0 || !sameList(cs.AllocatedResources, want.Requests) {
		t.Errorf("after the refused resize: ready %v, restarts %d, allocated %v", isRunningReady(p), cs.RestartCount, cs.AllocatedResources)
	}
}
