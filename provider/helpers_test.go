package provider

import (
	"fmt"
	"net"
	"strconv"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"

	"github.com/vk-containerd/vk-containerd/internal/ctrd"
	"github.com/vk-containerd/vk-containerd/internal/sandbox"
)

// Shared fixtures of the provider tests.

const (
	testUID   = types.UID("0f3b6d0e-1a2b-4c3d-8e9f-0123456789ab")
	testImage = "docker.io/library/busybox:1.36"
	testRef   = "docker.io/library/busybox@sha256:1111111111111111111111111111111111111111111111111111111111111111"
)

// t0 is the pod's start time; everything else happens after it.
var t0 = time.Date(2025, 3, 4, 10, 0, 0, 0, time.UTC)

func testPods() *Pods {
	return &Pods{cfg: PodsConfig{HostIP: net.ParseIP("10.0.0.1")}, clock: wallClock{}, grants: map[types.UID]grant{}, deferred: map[types.UID]struct{}{}, probeMetrics: newProbeMetrics()}
}

// testPod is a pod with the given app containers and init containers.
func testPod(policy corev1.RestartPolicy, apps []string, inits ...corev1.Container) *corev1.Pod {
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "default", UID: testUID},
		Spec:       corev1.PodSpec{RestartPolicy: policy, InitContainers: inits},
	}
	for _, n := range apps {
		pod.Spec.Containers = append(pod.Spec.Containers, corev1.Container{Name: n, Image: "busybox:1.36"})
	}
	return pod
}

func initC(name string) corev1.Container {
	return corev1.Container{Name: name, Image: "busybox:1.36"}
}

func sidecarC(name string) corev1.Container {
	always := corev1.ContainerRestartPolicyAlways
	return corev1.Container{Name: name, Image: "busybox:1.36", RestartPolicy: &always}
}

// testWorker is a worker of pod with a sandbox (one IPv4 address) and the
// given records.
func testWorker(pod *corev1.Pod, records ...*tracked) *worker {
	w := newWorker(testPods(), pod)
	w.sb = &sandbox.Sandbox{IPs: []net.IP{net.ParseIP("10.244.0.5")}}
	w.state = stateRunning
	w.startTime = metav1.NewTime(t0)
	for _, r := range records {
		w.records[r.name] = r
	}
	return w
}

func rec(name, kind string, current, previous *ctrd.ContainerStatus) *tracked {
	return &tracked{name: name, kind: kind, current: current, previous: previous, imageID: testRef}
}

func ctrStatus(name string, attempt int, state ctrd.State) *ctrd.ContainerStatus {
	return &ctrd.ContainerStatus{
		ID: containerID(testUID, name, attempt),
		Labels: map[string]string{
			ctrd.LabelPodUID:        string(testUID),
			ctrd.LabelContainerName: name,
			ctrd.LabelAttempt:       strconv.Itoa(attempt),
		},
		Image:     testImage,
		State:     state,
		CreatedAt: t0.Add(time.Duration(attempt)*time.Minute + time.Second),
	}
}

func runningCtr(name string, attempt int, started time.Time) *ctrd.ContainerStatus {
	c := ctrStatus(name, attempt, ctrd.StateRunning)
	c.StartedAt = started
	return c
}

func exitedCtr(name string, attempt int, code uint32, started, finished time.Time) *ctrd.ContainerStatus {
	c := ctrStatus(name, attempt, ctrd.StateExited)
	c.ExitCode, c.StartedAt, c.FinishedAt = code, started, finished
	return c
}

func createdCtr(name string, attempt int) *ctrd.ContainerStatus {
	return ctrStatus(name, attempt, ctrd.StateCreated)
}

// startErrCtr is an attempt whose task could not start: containerd keeps it
// created, the worker labels it with the error.
func startErrCtr(name string, attempt int, msg string) *ctrd.ContainerStatus {
	c := ctrStatus(name, attempt, ctrd.StateCreated)
	c.Labels[ctrd.LabelStartError] = msg
	return c
}

func withDelay(c *ctrd.ContainerStatus, d string) *ctrd.ContainerStatus {
	c.Labels[ctrd.LabelRestartDelay] = d
	return c
}

type recordedEvent struct{ typ, reason, message string }

// fakeRecorder implements record.EventRecorder.
type fakeRecorder struct {
	mu     sync.Mutex
	events []recordedEvent
}

func (f *fakeRecorder) Event(_ runtime.Object, typ, reason, message string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.events = append(f.events, recordedEvent{typ, reason, message})
}

func (f *fakeRecorder) Eventf(o runtime.Object, typ, reason, format string, args ...interface{}) {
	f.Event(o, typ, reason, fmt.Sprintf(format, args...))
}

func (f *fakeRecorder) AnnotatedEventf(o runtime.Object, _ map[string]string, typ, reason, format string, args ...interface{}) {
	f.Event(o, typ, reason, fmt.Sprintf(format, args...))
}

func (f *fakeRecorder) byReason(reason string) []recordedEvent {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []recordedEvent
	for _, e := range f.events {
		if e.reason == reason {
			out = append(out, e)
		}
	}
	return out
}

func condition(conds []corev1.PodCondition, t corev1.PodConditionType) (corev1.PodCondition, int) {
	var found corev1.PodCondition
	n := 0
	for _, c := range conds {
		if c.Type == t {
			found = c
			n++
		}
	}
	return found, n
}
