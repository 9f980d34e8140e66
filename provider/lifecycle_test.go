package provider

import (
	"context"
	"errors"
	"k8s.io/apimachinery/pkg/types"
	"reflect"
	"strings"
	"syscall"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/vk-containerd/vk-containerd/internal/ctrd"
)

// Whole sync scenarios of one pod, against the fakes of fakes_test.go: each
// drives the worker pass by pass as its goroutine would, changes the world
// (a process exits, time passes, the pod is deleted) and checks what a user
// would see in the pod's status and events.

var metaCreate = metav1.CreateOptions{}

func appPod(policy corev1.RestartPolicy, inits []corev1.Container, apps ...string) *corev1.Pod {
	pod := testPod(policy, apps, inits...)
	pod.Spec.NodeName = "vk-node"
	return pod
}

func (n *fakeNode) running(w *worker, pod *corev1.Pod) {
	n.t.Helper()
	n.images.present[testImage] = true
	n.settle(w)
	if w.state != stateRunning || n.last().Phase != corev1.PodRunning {
		n.t.Fatalf("state %s, phase %s; want running, Running", w.state, n.last().Phase)
	}
}

func containerState(t *testing.T, st corev1.PodStatus, name string) corev1.ContainerStatus {
	t.Helper()
	for _, list := range [][]corev1.ContainerStatus{st.InitContainerStatuses, st.ContainerStatuses} {
		for _, cs := range list {
			if cs.Name == name {
				return cs
			}
		}
	}
	t.Fatalf("no status of container %s", name)
	return corev1.ContainerStatus{}
}

func TestLifecycle(t *testing.T) {
	t.Run("create: sandbox, volumes, then the container; one status, Running and Ready", func(t *testing.T) {
		n := newNode(t)
		pod := appPod(corev1.RestartPolicyAlways, nil, "app")
		w := n.worker(n.pods, pod)
		n.running(w, pod)
		if !n.sandboxes.live[string(testUID)] || !n.volumes.prepared[string(testUID)] {
			t.Errorf("sandbox live %v, volumes prepared %v; want both", n.sandboxes.live, n.volumes.prepared)
		}
		st := n.last()
		cs := containerState(t, st, "app")
		if cs.State.Running == nil || !cs.Ready || cs.RestartCount != 0 || cs.ImageID != "docker.io/library/busybox@"+testDigest {
			t.Errorf("container status = %+v", cs)
		}
		if c, _ := condition(st.Conditions, corev1.PodReady); c.Status != corev1.ConditionTrue {
			t.Errorf("Ready = %+v", c)
		}
		if st.PodIP != "10.244.0.9" || st.HostIP != "10.0.0.1" {
			t.Errorf("podIP %q hostIP %q", st.PodIP, st.HostIP)
		}
		// Passes that change containers publish nothing: the API sees the
		// pod once, already running.
		if got := n.publishedPhases(); !reflect.DeepEqual(got, []corev1.PodPhase{corev1.PodRunning}) {
			t.Errorf("published phases = %v, want [Running]", got)
		}
		for _, reason := range []string{eventCreated, eventStarted} {
			if len(n.recorder.byReason(reason)) != 1 {
				t.Errorf("%s events = %v, want one", reason, n.recorder.byReason(reason))
			}
		}
		// A pass with nothing to do changes nothing.
		before := len(n.published)
		if wake := n.settle(w); wake != volumeRefreshPeriod {
			t.Errorf("idle wake = %v, want the volume refresh period", wake)
		}
		if len(n.published) != before || n.rt.count() != 1 {
			t.Errorf("idle pass published %d statuses, %d containers", len(n.published)-before, n.rt.count())
		}
	})

	t.Run("marked not Ready by the node lifecycle controller: the status is published again", func(t *testing.T) {
		n := newNode(t)
		pod := appPod(corev1.RestartPolicyAlways, nil, "app")
		w := n.worker(n.pods, pod)
		n.running(w, pod)
		api := pod.DeepCopy()
		st := n.last()
		api.Status = *st.DeepCopy()
		before := len(n.published)
		n.pods.ReconcileStatus(api) // the API agrees: nothing to do
		if len(n.published) != before {
			t.Fatalf("a pod the API shows as the agent does was published again")
		}
		for i, c := range api.Status.Conditions {
			if c.Type == corev1.PodReady {
				api.Status.Conditions[i].Status = corev1.ConditionFalse
			}
		}
		n.pods.ReconcileStatus(api)
		if len(n.published) != before+1 {
			t.Fatalf("published %d statuses after the API marked the pod not Ready, want 1", len(n.published)-before)
		}
		if c, _ := condition(n.last().Conditions, corev1.PodReady); c.Status != corev1.ConditionTrue {
			t.Errorf("republished Ready = %+v, want True", c)
		}
	})

	t.Run("crash: restarted at once, then CrashLoopBackOff for 10 s", func(t *testing.T) {
		n := newNode(t)
		pod := appPod(corev1.RestartPolicyAlways, nil, "app")
		w := n.worker(n.pods, pod)
		n.running(w, pod)

		n.clock.advance(time.Minute)
		n.rt.exit(t, "app", 1)
		n.settle(w)
		if c, _ := n.rt.latest("app"); ctrd.Attempt(c.Labels) != 1 || c.State != ctrd.StateRunning {
			t.Fatalf("after the first exit: attempt %d state %v, want attempt 1 running", ctrd.Attempt(c.Labels), c.State)
		}
		if cs := containerState(t, n.last(), "app"); cs.RestartCount != 1 || cs.LastTerminationState.Terminated == nil || cs.LastTerminationState.Terminated.ExitCode != 1 {
			t.Errorf("status after restart = %+v", cs)
		}

		n.clock.advance(time.Second)
		n.rt.exit(t, "app", 1)
		wake := n.settle(w)
		cs := containerState(t, n.last(), "app")
		if cs.State.Waiting == nil || cs.State.Waiting.Reason != ReasonCrashLoopBackOff {
			t.Fatalf("state = %+v, want waiting CrashLoopBackOff", cs.State)
		}
		if wake != backoffInitial {
			t.Errorf("wake = %v, want the back-off %v", wake, backoffInitial)
		}
		if n.last().Phase != corev1.PodRunning {
			t.Errorf("phase = %s, want Running while it restarts", n.last().Phase)
		}
		n.settle(w) // nothing new: no second BackOff event, no start
		if ev := n.recorder.byReason(eventBackOff); len(ev) != 1 {
			t.Errorf("BackOff events = %v, want one", ev)
		}
		n.clock.advance(backoffInitial)
		n.settle(w)
		if cs := containerState(t, n.last(), "app"); cs.State.Running == nil || cs.RestartCount != 2 {
			t.Errorf("after the back-off: %+v, want running, restartCount 2", cs)
		}
	})

	t.Run("init containers run in order, one at a time, before the app", func(t *testing.T) {
		n := newNode(t)
		pod := appPod(corev1.RestartPolicyAlways, []corev1.Container{initC("i1"), initC("i2")}, "app")
		w := n.worker(n.pods, pod)
		n.images.present[testImage] = true
		n.settle(w)
		st := n.last()
		if st.Phase != corev1.PodPending || containerState(t, st, "app").State.Waiting.Reason != ReasonPodInitializing {
			t.Fatalf("phase %s, app %+v; want Pending, PodInitializing", st.Phase, containerState(t, st, "app").State)
		}
		if c, _ := condition(st.Conditions, corev1.PodInitialized); c.Status != corev1.ConditionFalse || c.Message != "containers with incomplete status: [i1 i2]" {
			t.Errorf("Initialized = %+v", c)
		}
		n.rt.exit(t, "i1", 0)
		n.settle(w)
		n.rt.exit(t, "i2", 0)
		n.settle(w)
		if got := n.rt.startOrder(); !reflect.DeepEqual(got, []string{"i1", "i2", "app"}) {
			t.Errorf("start order = %v", got)
		}
		if n.last().Phase != corev1.PodRunning {
			t.Errorf("phase = %s, want Running", n.last().Phase)
		}
	})

	t.Run("an init container that fails under Never fails the pod; the app never starts", func(t *testing.T) {
		n := newNode(t)
		pod := appPod(corev1.RestartPolicyNever, []corev1.Container{initC("init")}, "app")
		w := n.worker(n.pods, pod)
		n.images.present[testImage] = true
		n.settle(w)
		n.rt.exit(t, "init", 2)
		n.settle(w)
		if w.state != stateTerminal || n.last().Phase != corev1.PodFailed {
			t.Fatalf("state %s phase %s, want terminal Failed", w.state, n.last().Phase)
		}
		if _, ok := n.rt.latest("app"); ok {
			t.Error("the app container was created")
		}
	})

	t.Run("sidecars start first and stop last; the pod succeeds with all stopped", func(t *testing.T) {
		n := newNode(t)
		pod := appPod(corev1.RestartPolicyNever, []corev1.Container{sidecarC("proxy")}, "app")
		w := n.worker(n.pods, pod)
		n.running(w, pod)
		if got := n.rt.startOrder(); !reflect.DeepEqual(got, []string{"proxy", "app"}) {
			t.Fatalf("start order = %v", got)
		}
		n.rt.exit(t, "app", 0)
		n.settle(w)
		st := n.last()
		if w.state != stateTerminal || st.Phase != corev1.PodSucceeded {
			t.Fatalf("state %s phase %s, want terminal Succeeded", w.state, st.Phase)
		}
		if cs := containerState(t, st, "proxy"); cs.State.Terminated == nil {
			t.Errorf("sidecar in the final status: %+v, want terminated", cs.State)
		}
		if c, _ := n.rt.latest("proxy"); c.State != ctrd.StateExited {
			t.Errorf("sidecar state %v, want exited", c.State)
		}
	})

	t.Run("image pull failure: ErrImagePull, then ImagePullBackOff, then a pull that works", func(t *testing.T) {
		n := newNode(t)
		pod := appPod(corev1.RestartPolicyAlways, nil, "app")
		n.images.pullErr[testImage] = errors.New("registry answered 404")
		w := n.worker(n.pods, pod)
		wake := n.settle(w)
		cs := containerState(t, n.last(), "app")
		if cs.State.Waiting == nil || cs.State.Waiting.Reason != ReasonErrImagePull || !strings.Contains(cs.State.Waiting.Message, "registry answered 404") {
			t.Fatalf("state = %+v, want ErrImagePull with the registry's answer", cs.State)
		}
		if wake != backoffInitial {
			t.Errorf("wake = %v, want the pull back-off %v", wake, backoffInitial)
		}
		n.clock.advance(time.Second)
		n.settle(w)
		if cs := containerState(t, n.last(), "app"); cs.State.Waiting.Reason != ReasonImagePullBackOff {
			t.Errorf("during the back-off: %s, want ImagePullBackOff", cs.State.Waiting.Reason)
		}
		if n.images.pulls != 1 {
			t.Errorf("pulls during the back-off = %d, want 1", n.images.pulls)
		}
		delete(n.images.pullErr, testImage)
		n.clock.advance(backoffInitial)
		n.settle(w)
		if n.last().Phase != corev1.PodRunning || n.images.pulls != 2 {
			t.Errorf("after the back-off: phase %s, pulls %d; want Running, 2", n.last().Phase, n.images.pulls)
		}
	})

	t.Run("a failed liveness probe stops the attempt; the restart policy starts the next", func(t *testing.T) {
		n := newNode(t)
		pod := appPod(corev1.RestartPolicyAlways, nil, "app")
		w := n.worker(n.pods, pod)
		n.running(w, pod)
		first, _ := n.rt.latest("app")
		w.requestKill(first.ID, "Container app failed liveness probe, will be restarted", &corev1.Probe{})
		n.settle(w)
		if ev := n.recorder.byReason(eventKilling); len(ev) == 0 || ev[0].message != "Container app failed liveness probe, will be restarted" {
			t.Errorf("Killing events = %v", ev)
		}
		cs := containerState(t, n.last(), "app")
		if cs.State.Running == nil || cs.RestartCount != 1 || cs.LastTerminationState.Terminated == nil || cs.LastTerminationState.Terminated.ExitCode != 143 {
			t.Errorf("after the kill: %+v", cs)
		}
	})

	t.Run("graceful deletion: stop signal, final status, everything released, the pod object removed", func(t *testing.T) {
		n := newNode(t)
		pod := appPod(corev1.RestartPolicyAlways, nil, "app")
		w := n.worker(n.pods, pod)
		n.running(w, pod)
		deleted := deletedAt(pod, n.clock.Now(), 30)
		if err := n.pods.DeletePod(context.Background(), deleted); err != nil {
			t.Fatal(err)
		}
		n.settle(w)
		if w.state != stateGone {
			t.Fatalf("state = %s, want gone", w.state)
		}
		if cs := containerState(t, n.last(), "app"); cs.State.Terminated == nil || cs.State.Terminated.ExitCode != 143 {
			t.Errorf("final status = %+v, want terminated by the stop signal", cs.State)
		}
		if n.rt.count() != 0 || n.sandboxes.live[string(testUID)] || n.volumes.prepared[string(testUID)] {
			t.Errorf("left: %d containers, sandbox %v, volumes %v", n.rt.count(), n.sandboxes.live, n.volumes.prepared)
		}
		if _, err := n.client.CoreV1().Pods(pod.Namespace).Get(context.Background(), pod.Name, metav1.GetOptions{}); !apierrors.IsNotFound(err) {
			t.Errorf("pod object: %v, want it removed", err)
		}
		if err := n.pods.DeletePod(context.Background(), pod); err == nil {
			t.Error("deleting the pod again: no error; want NotFound")
		}
	})

	t.Run("evicted: the final status keeps the API's DisruptionTarget condition", func(t *testing.T) {
		n := newNode(t)
		pod := appPod(corev1.RestartPolicyNever, nil, "app")
		w := n.worker(n.pods, pod)
		n.running(w, pod)
		// The eviction API sets DisruptionTarget, then deletes the pod.
		evicted := deletedAt(pod, n.clock.Now(), 30)
		st := n.last()
		evicted.Status = *st.DeepCopy()
		disruption := corev1.PodCondition{Type: corev1.DisruptionTarget, Status: corev1.ConditionTrue,
			Reason: "EvictionByEvictionAPI", Message: "Eviction API: evicting"}
		evicted.Status.Conditions = append(evicted.Status.Conditions, disruption)
		n.pods.ReconcileStatus(evicted)
		if err := n.pods.DeletePod(context.Background(), evicted); err != nil {
			t.Fatal(err)
		}
		n.settle(w)
		final := n.last()
		if final.Phase != corev1.PodFailed {
			t.Errorf("phase = %s, want Failed", final.Phase)
		}
		if c, count := condition(final.Conditions, corev1.DisruptionTarget); count != 1 || c.Status != corev1.ConditionTrue || c.Reason != disruption.Reason {
			t.Errorf("DisruptionTarget = %+v (%d of them), want the API's, once", c, count)
		}
		if c, _ := condition(final.Conditions, corev1.PodReady); c.Status != corev1.ConditionFalse {
			t.Errorf("Ready = %+v, want the node's False", c)
		}
	})

	t.Run("forced deletion: SIGKILL at once, the pod object left to the API", func(t *testing.T) {
		n := newNode(t)
		pod := appPod(corev1.RestartPolicyAlways, nil, "app")
		w := n.worker(n.pods, pod)
		n.running(w, pod)
		w.requestDelete(pod) // gone from the API without a grace period
		n.settle(w)
		if w.state != stateGone || n.rt.count() != 0 {
			t.Fatalf("state %s, %d containers; want gone, none", w.state, n.rt.count())
		}
		first := containerID(testUID, "app", 0)
		if !reflect.DeepEqual(n.rt.signals, []string{first + " 9"}) {
			t.Errorf("signals = %v, want one SIGKILL (%d)", n.rt.signals, syscall.SIGKILL)
		}
		if _, err := n.client.CoreV1().Pods(pod.Namespace).Get(context.Background(), pod.Name, metav1.GetOptions{}); err != nil {
			t.Errorf("pod object: %v, want it left as it was", err)
		}
	})

	t.Run("adoption after an agent restart: nothing restarted, restartCount kept", func(t *testing.T) {
		n := newNode(t)
		pod := appPod(corev1.RestartPolicyAlways, nil, "app")
		w := n.worker(n.pods, pod)
		n.running(w, pod)
		n.rt.exit(t, "app", 1)
		n.settle(w)
		starts := len(n.rt.starts)

		restarted := n.newPods() // the agent again, with nothing in memory
		w2 := n.worker(restarted, pod)
		n.settle(w2)
		if len(n.rt.starts) != starts {
			t.Errorf("starts after the restart: %d, want %d (none)", len(n.rt.starts), starts)
		}
		cs := containerState(t, n.last(), "app")
		if w2.state != stateRunning || cs.State.Running == nil || cs.RestartCount != 1 {
			t.Errorf("adopted: state %s, container %+v", w2.state, cs)
		}
	})

	t.Run("sandbox failure: Pending with the reason, retried, then running", func(t *testing.T) {
		n := newNode(t)
		n.sandboxes.failEnsure = 1
		pod := appPod(corev1.RestartPolicyAlways, nil, "app")
		w := n.worker(n.pods, pod)
		n.images.present[testImage] = true
		wake := n.settle(w)
		st := n.last()
		if w.state != stateCreating || st.Phase != corev1.PodPending || !strings.Contains(st.Message, "no IP addresses available") || wake != retryPause {
			t.Fatalf("state %s phase %s message %q wake %v", w.state, st.Phase, st.Message, wake)
		}
		if len(n.recorder.byReason(eventSandboxError)) != 1 {
			t.Errorf("%s events = %v", eventSandboxError, n.recorder.events)
		}
		n.settle(w)
		if w.state != stateRunning || n.last().Message != "" {
			t.Errorf("after the retry: state %s message %q", w.state, n.last().Message)
		}
	})

	t.Run("volume failure after the sandbox: FailedMount; deletion releases the sandbox", func(t *testing.T) {
		n := newNode(t)
		n.volumes.failPrepare = 1
		pod := appPod(corev1.RestartPolicyAlways, nil, "app")
		w := n.worker(n.pods, pod)
		n.settle(w)
		if w.state != stateCreating || len(n.recorder.byReason(eventFailedMount)) != 1 || !n.sandboxes.live[string(testUID)] {
			t.Fatalf("state %s, FailedMount %v, sandbox %v", w.state, n.recorder.byReason(eventFailedMount), n.sandboxes.live)
		}
		w.requestDelete(pod)
		n.settle(w)
		if w.state != stateGone || n.sandboxes.live[string(testUID)] || n.sandboxes.removed[string(testUID)] != 1 {
			t.Errorf("state %s, sandbox live %v removed %v", w.state, n.sandboxes.live, n.sandboxes.removed)
		}
	})

	t.Run("deleted while its image is pulled: the pull stops, no failure reported, everything released", func(t *testing.T) {
		n := newNode(t)
		n.images.pulling = make(chan struct{})
		pod := appPod(corev1.RestartPolicyAlways, nil, "app")
		w := n.worker(n.pods, pod)
		done := make(chan struct{})
		go func() { defer close(done); n.settle(w) }()
		select {
		case <-n.images.pulling:
		case <-time.After(10 * time.Second):
			t.Fatal("the worker never pulled")
		}
		deleted := deletedAt(pod, t0, 30)
		w.requestDelete(deleted)
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			t.Fatal("the pull held the deletion up")
		}
		n.settle(w)
		if w.state != stateGone || n.sandboxes.live[string(testUID)] || n.rt.count() != 0 {
			t.Errorf("state %s, sandbox live %v, containers %d; want gone, none, 0", w.state, n.sandboxes.live, n.rt.count())
		}
		if ev := n.recorder.byReason(eventFailed); len(ev) != 0 {
			t.Errorf("a pull stopped by the deletion was reported as failed: %v", ev)
		}
	})

	t.Run("forced deletion during preStop: the hook is cut short and the container killed", func(t *testing.T) {
		n := newNode(t)
		pod := appPod(corev1.RestartPolicyAlways, nil, "app")
		pod.Spec.Containers[0].Lifecycle = &corev1.Lifecycle{PreStop: &corev1.LifecycleHandler{
			Exec: &corev1.ExecAction{Command: []string{"sleep", "600"}}}}
		w := n.worker(n.pods, pod)
		n.running(w, pod)
		n.rt.execing = make(chan struct{})
		graceful := deletedAt(pod, t0, 600)
		w.requestDelete(graceful)
		done := make(chan struct{})
		go func() { defer close(done); n.settle(w) }()
		select {
		case <-n.rt.execing:
		case <-time.After(10 * time.Second):
			t.Fatal("the preStop hook never ran")
		}
		forced := graceful.DeepCopy()
		zero := int64(0)
		forced.DeletionGracePeriodSeconds = &zero
		w.requestDelete(forced)
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			t.Fatal("the forced deletion waited for the preStop hook")
		}
		n.settle(w)
		if w.state != stateGone {
			t.Errorf("state %s, want gone", w.state)
		}
		n.rt.mu.Lock()
		signals := strings.Join(n.rt.signals, ",")
		n.rt.mu.Unlock()
		if !strings.HasSuffix(signals, " 9") || strings.Contains(signals, " 15") || strings.Contains(signals, " 0") {
			t.Errorf("signals %q: want a SIGKILL and no stop signal", signals)
		}
	})

	t.Run("a start failure: RunContainerError, then StartError; under Never the pod fails", func(t *testing.T) {
		n := newNode(t)
		n.rt.failStart["app"] = errors.New(`exec: "nope": executable file not found in $PATH`)
		pod := appPod(corev1.RestartPolicyNever, nil, "app")
		w := n.worker(n.pods, pod)
		n.images.present[testImage] = true
		n.settle(w)
		st := n.last()
		cs := containerState(t, st, "app")
		if st.Phase != corev1.PodFailed || cs.State.Terminated == nil || cs.State.Terminated.Reason != ReasonStartError || !strings.Contains(cs.State.Terminated.Message, "executable file not found") {
			t.Errorf("phase %s, container %+v", st.Phase, cs.State)
		}
		if ev := n.recorder.byReason(eventFailed); len(ev) != 1 {
			t.Errorf("Failed events = %v, want one", ev)
		}
	})

	t.Run("a start error that cannot be recorded waits for the retry pause", func(t *testing.T) {
		n := newNode(t)
		n.rt.failStart["app"] = errors.New("exec format error")
		n.rt.failLabels = errors.New("containerd: deadline exceeded")
		pod := appPod(corev1.RestartPolicyAlways, nil, "app")
		w := n.worker(n.pods, pod)
		n.images.present[testImage] = true
		if wake := n.settle(w); wake != retryPause { // settle fails if the worker loops
			t.Errorf("wake = %v, want the retry pause", wake)
		}
		cs := containerState(t, n.last(), "app")
		if cs.State.Waiting == nil || cs.State.Waiting.Reason != ReasonRunContainerError {
			t.Errorf("state = %+v, want waiting RunContainerError", cs.State)
		}
		if n.rt.startCalls != 1 {
			t.Errorf("start calls = %d, want 1", n.rt.startCalls)
		}
		n.settle(w) // within the pause: no new try
		if n.rt.startCalls != 1 {
			t.Errorf("start calls within the pause = %d, want 1", n.rt.startCalls)
		}
		n.clock.advance(retryPause)
		n.settle(w)
		if n.rt.startCalls != 2 {
			t.Errorf("start calls after the pause = %d, want 2", n.rt.startCalls)
		}
	})

	t.Run("a forbidden sysctl: refused before anything starts", func(t *testing.T) {
		n := newNode(t)
		pod := appPod(corev1.RestartPolicyAlways, nil, "app")
		pod.Spec.SecurityContext = &corev1.PodSecurityContext{Sysctls: []corev1.Sysctl{{Name: "kernel.msgmax", Value: "1"}}}
		w := n.worker(n.pods, pod)
		n.settle(w)
		st := n.last()
		if w.state != stateTerminal || st.Phase != corev1.PodFailed || st.Reason != ReasonSysctlForbidden {
			t.Errorf("state %s phase %s reason %s", w.state, st.Phase, st.Reason)
		}
		if n.rt.count() != 0 || n.sandboxes.live[string(testUID)] {
			t.Error("something of the refused pod was made")
		}
	})

	t.Run("host port held by a running pod: refused with NodePorts; free again once that pod is done", func(t *testing.T) {
		n := newNode(t)
		withPort := func(pod *corev1.Pod, ip string, proto corev1.Protocol) *corev1.Pod {
			pod.Spec.Containers[0].Ports = []corev1.ContainerPort{{ContainerPort: 80, HostPort: 21017, HostIP: ip, Protocol: proto}}
			return pod
		}
		holder := withPort(appPod(corev1.RestartPolicyNever, nil, "app"), "", "")
		w := n.worker(n.pods, holder)
		n.running(w, holder)

		other := func(uid, ip string, proto corev1.Protocol) *worker {
			pod := withPort(appPod(corev1.RestartPolicyNever, nil, "app"), ip, proto)
			pod.UID, pod.Name = types.UID(uid), uid
			ow := n.worker(n.pods, pod)
			n.settle(ow)
			return ow
		}
		clash := other("uid-clash", "10.0.0.1", corev1.ProtocolTCP) // inside the holder's 0.0.0.0
		if st := clash.status; clash.state != stateTerminal || st.Phase != corev1.PodFailed || st.Reason != "NodePorts" ||
			st.Message != "Pod was rejected: Predicate NodePorts failed: node(s) didn't have free ports for the requested pod ports" {
			t.Errorf("conflicting pod: state %s phase %s reason %q message %q", clash.state, st.Phase, st.Reason, st.Message)
		}
		if ev := n.recorder.byReason("NodePorts"); len(ev) != 1 {
			t.Errorf("NodePorts events = %v, want 1", ev)
		}
		if udp := other("uid-udp", "", corev1.ProtocolUDP); udp.state != stateRunning {
			t.Errorf("the same port over UDP: state %s, want running", udp.state)
		}

		n.rt.exit(t, "app", 0) // the holder's container (the first "app") ends: the pod is done
		n.settle(w)
		if w.state != stateTerminal {
			t.Fatalf("holder: state %s, want terminal", w.state)
		}
		if again := other("uid-again", "", ""); again.state != stateRunning {
			t.Errorf("after the holder ended: state %s, want running", again.state)
		}
	})

	t.Run("disk pressure: new pods refused with Evicted, a critical one and a running one kept", func(t *testing.T) {
		n := newNode(t)
		running := appPod(corev1.RestartPolicyAlways, nil, "app")
		w := n.worker(n.pods, running)
		n.running(w, running)
		n.pods.cfg.DiskPressure = func() bool { return true }
		n.settle(w)
		if w.state != stateRunning {
			t.Fatalf("running pod: state %s under disk pressure, want running", w.state)
		}

		pod := appPod(corev1.RestartPolicyAlways, nil, "app")
		pod.UID, pod.Name = "uid-new", "new"
		nw := n.worker(n.pods, pod)
		n.settle(nw)
		st := nw.status
		if nw.state != stateTerminal || st.Phase != corev1.PodFailed || st.Reason != ReasonEvicted ||
			st.Message != "The node had condition: [DiskPressure]. " {
			t.Errorf("new pod: state %s phase %s reason %q message %q", nw.state, st.Phase, st.Reason, st.Message)
		}
		if n.sandboxes.live["uid-new"] || len(n.recorder.byReason(ReasonEvicted)) != 1 {
			t.Errorf("refused pod: sandbox %v, Evicted events %d; want none and 1", n.sandboxes.live["uid-new"], len(n.recorder.byReason(ReasonEvicted)))
		}

		crit := appPod(corev1.RestartPolicyAlways, nil, "app")
		crit.UID, crit.Name = "uid-crit", "crit"
		prio := int32(2000001000)
		crit.Spec.Priority = &prio
		cw := n.worker(n.pods, crit)
		n.settle(cw)
		if cw.state != stateRunning {
			t.Errorf("critical pod: state %s, want running", cw.state)
		}
	})

	t.Run("activeDeadlineSeconds: DeadlineExceeded, the container stopped", func(t *testing.T) {
		n := newNode(t)
		pod := appPod(corev1.RestartPolicyAlways, nil, "app")
		deadline := int64(60)
		pod.Spec.ActiveDeadlineSeconds = &deadline
		w := n.worker(n.pods, pod)
		n.running(w, pod)
		n.clock.advance(61 * time.Second)
		n.settle(w)
		st := n.last()
		if st.Phase != corev1.PodFailed || st.Reason != ReasonDeadlineExceeded {
			t.Errorf("phase %s reason %s", st.Phase, st.Reason)
		}
		if c, _ := n.rt.latest("app"); c.State != ctrd.StateExited {
			t.Errorf("container state %v, want stopped", c.State)
		}
	})

	t.Run("containerd does not answer: no status change, retried", func(t *testing.T) {
		n := newNode(t)
		pod := appPod(corev1.RestartPolicyAlways, nil, "app")
		w := n.worker(n.pods, pod)
		n.running(w, pod)
		before := len(n.published)
		n.rt.failList = errors.New("connection refused")
		if wake := n.settle(w); wake != retryPause {
			t.Errorf("wake = %v, want %v", wake, retryPause)
		}
		if len(n.published) != before || w.state != stateRunning {
			t.Errorf("published %d, state %s", len(n.published)-before, w.state)
		}
	})
}

func TestStateMachine(t *testing.T) {
	all := []podState{stateCreating, stateRunning, stateTerminal, stateTerminating, stateGone}
	legal := map[[2]podState]bool{
		{stateCreating, stateRunning}: true, {stateCreating, stateTerminal}: true, {stateCreating, stateTerminating}: true,
		{stateRunning, stateTerminal}: true, {stateRunning, stateTerminating}: true,
		{stateTerminal, stateTerminating}: true,
		{stateTerminating, stateGone}:     true,
	}
	for _, from := range all {
		for _, to := range all {
			if got := from.canMoveTo(to); got != legal[[2]podState{from, to}] {
				t.Errorf("%s -> %s allowed = %v", from, to, got)
			}
		}
	}
	w := &worker{namespace: "default", name: "web", state: stateTerminal}
	if err := w.moveTo(stateRunning); err == nil || w.state != stateTerminal || err.Error() != "pod default/web: no transition from terminal to running" {
		t.Errorf("terminal -> running: %v, state %s", err, w.state)
	}
	if err := w.moveTo(stateTerminal); err != nil {
		t.Errorf("staying in a state: %v", err)
	}
}

// A task exit from containerd's event stream kicks the worker of its pod.
func TestWatchExitsKicksTheWorker(t *testing.T) {
	n := newNode(t)
	n.rt.exits = make(chan string)
	w := n.worker(n.pods, appPod(corev1.RestartPolicyAlways, nil, "app"))
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go n.pods.WatchExits(ctx)
	kicked := func(what string) {
		t.Helper()
		select {
		case <-w.kickc:
		case <-time.After(10 * time.Second):
			t.Fatalf("no kick after %s", what)
		}
	}
	kicked("subscribing") // exits may have been missed before
	n.rt.exits <- containerID(testUID, "app", 3)
	kicked("the exit of one of the pod's containers")
}

// A pod that had ended before the agent started is held, not restarted, and
// released when it is deleted.
func TestAdoptTerminal(t *testing.T) {
	n := newNode(t)
	pod := appPod(corev1.RestartPolicyAlways, nil, "app")
	deadline := int64(1)
	pod.Spec.ActiveDeadlineSeconds = &deadline
	w := n.worker(n.pods, pod)
	n.running(w, pod)
	n.clock.advance(2 * time.Second)
	n.settle(w) // DeadlineExceeded: Failed, container stopped
	ended := pod.DeepCopy()
	ended.Status = n.last()
	if ended.Status.Phase != corev1.PodFailed {
		t.Fatalf("phase %s, want Failed", ended.Status.Phase)
	}
	starts := len(n.rt.starts)

	restarted := n.newPods() // the agent again; the pod controller skips Failed pods
	w2 := restarted.adoptTerminal(ended)
	if w2 == nil || w2.state != stateTerminal {
		t.Fatalf("adopted worker %v", w2)
	}
	n.settle(w2)
	if len(n.rt.starts) != starts || n.rt.count() != 1 {
		t.Errorf("the terminal pod was touched: %d starts (want %d), %d containers", len(n.rt.starts), starts, n.rt.count())
	}
	if err := restarted.DeletePod(context.Background(), ended); err != nil {
		t.Fatal(err)
	}
	n.settle(w2)
	if w2.state != stateGone || n.rt.count() != 0 || n.sandboxes.live[string(testUID)] {
		t.Errorf("after deletion: state %s, %d containers, sandbox %v", w2.state, n.rt.count(), n.sandboxes.live)
	}
	if st := n.last(); st.Reason != ReasonDeadlineExceeded || st.Phase != corev1.PodFailed {
		t.Errorf("final status %s/%q, want Failed with the reason it ended with", st.Phase, st.Reason)
	}
	running := appPod(corev1.RestartPolicyAlways, nil, "app")
	running.UID = "other-uid"
	if restarted.adoptTerminal(running) != nil {
		t.Error("a pod that has not ended was adopted")
	}
}

// A pod whose deletion began before the agent was killed has no worker in
// the restarted agent: the deletion it is handed releases what the pod left
// on the node (containers, sandbox, volumes) and removes the pod object.
func TestDeletionLeftByAKilledAgent(t *testing.T) {
	n := newNode(t)
	pod := appPod(corev1.RestartPolicyAlways, nil, "app")
	w := n.worker(n.pods, pod)
	n.running(w, pod)
	deleted := deletedAt(pod, n.clock.Now(), 30)

	restarted := n.newPods() // the old agent died before it saw the deletion through
	w2, err := restarted.deleting(deleted)
	if err != nil || w2 == nil {
		t.Fatalf("deleting a pod without a worker: %v, %v; want a releasing worker", w2, err)
	}
	n.settle(w2)
	if w2.state != stateGone || n.rt.count() != 0 || n.sandboxes.live[string(testUID)] || n.volumes.prepared[string(testUID)] {
		t.Errorf("state %s; left %d containers, sandbox %v, volumes %v", w2.state, n.rt.count(), n.sandboxes.live, n.volumes.prepared)
	}
	if _, err := n.client.CoreV1().Pods(pod.Namespace).Get(context.Background(), pod.Name, metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Errorf("pod object: %v, want it removed", err)
	}
	if _, err := restarted.deleting(pod); err == nil {
		t.Error("a pod neither on the node nor deleted in the API: no error; want NotFound")
	}
}

// deletedAt is pod as the API server has it once deleted at t with a grace
// period of grace seconds.
func deletedAt(pod *corev1.Pod, t time.Time, grace int64) *corev1.Pod {
	out := pod.DeepCopy()
	out.DeletionTimestamp, out.DeletionGracePeriodSeconds = &metav1.Time{Time: t}, &grace
	return out
}

// A pod whose object went from the API while no worker had it (deleted
// while the agent was down, then removed by the library without a
// DeletePod) is released once the API says it is gone, with the snapshot
// of a creation that made no container; a pod with a worker is left to its
// worker, and another pod's snapshot to that pod.
func TestReleaseGone(t *testing.T) {
	n := newNode(t)
	pod := appPod(corev1.RestartPolicyAlways, nil, "app")
	w := n.worker(n.pods, pod)
	n.running(w, pod)
	stray, other := containerID(testUID, "init", 0), containerID("99999999-9999-9999-9999-999999999999", "app", 0)
	unpack := "extract-471203904-edx- sha256:117979e1e87ffc7469d4eea5bdff5740f5f651c7daac792b520c2e56fb983902"
	n.rt.strays = map[string]bool{stray: true, other: true, unpack: true}

	n.pods.ReleaseGone(context.Background(), pod.UID)
	if n.rt.count() != 1 || !n.sandboxes.live[string(testUID)] {
		t.Fatalf("a pod with a worker was released: %d containers, sandbox %v", n.rt.count(), n.sandboxes.live)
	}
	restarted := n.newPods() // no worker for the pod
	restarted.ReleaseGone(context.Background(), pod.UID)
	if n.rt.count() != 0 || n.sandboxes.live[string(testUID)] || n.rt.strays[stray] {
		t.Errorf("left %d containers, sandbox %v, snapshots %v; want none of the pod", n.rt.count(), n.sandboxes.live, n.rt.strays)
	}
	if !n.rt.strays[other] || !n.rt.strays[unpack] {
		t.Errorf("snapshots %v: want another pod's and an image unpack's kept", n.rt.strays)
	}
}
