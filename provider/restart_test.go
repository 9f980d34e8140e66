package provider

import (
	"github.com/vk-containerd/vk-containerd/internal/ctrd"

	"context"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
)

// The kubelet's crash-loop timing: restart at once after the first exit,
// then 10 s doubling up to 5 min; 10 min of running starts over.
func TestNextBackoffSequence(t *testing.T) {
	want := []time.Duration{
		10 * time.Second, 20 * time.Second, 40 * time.Second, 80 * time.Second,
		160 * time.Second, 300 * time.Second, 300 * time.Second, 300 * time.Second,
	}
	d := time.Duration(0)
	for i, w := range want {
		d = nextBackoff(d, time.Second)
		if d != w {
			t.Fatalf("step %d: nextBackoff = %v, want %v", i, d, w)
		}
	}
	if got := nextBackoff(d, 10*time.Minute-time.Second); got != backoffMax {
		t.Errorf("after 9m59s of running: %v, want %v kept", got, backoffMax)
	}
	d = nextBackoff(d, 10*time.Minute)
	if d != 0 {
		t.Fatalf("after 10 min of running: %v, want 0 (restart at once)", d)
	}
	if d = nextBackoff(d, time.Second); d != backoffInitial {
		t.Errorf("after a reset: %v, want %v", d, backoffInitial)
	}
}

func TestRestartDelayOf(t *testing.T) {
	started := t0.Add(time.Second)
	for _, tc := range []struct {
		name    string
		attempt int
		delay   string // label; "" for none
		ran     time.Duration
		want    time.Duration
	}{
		{"first attempt restarts at once", 0, "0s", time.Second, 0},
		{"first attempt, no label", 0, "", time.Second, 0},
		{"first attempt ignores its label", 0, "40s", time.Second, 0},
		{"second attempt: 10s", 1, "0s", time.Second, 10 * time.Second},
		{"third attempt: 20s", 2, "10s", time.Second, 20 * time.Second},
		{"doubles", 4, "40s", time.Second, 80 * time.Second},
		{"capped at 5 min", 6, "160s", time.Second, 5 * time.Minute},
		{"stays at 5 min", 9, "5m0s", time.Second, 5 * time.Minute},
		{"reset after 10 min of running", 9, "5m0s", 10 * time.Minute, 0},
		{"no label on a later attempt", 3, "", time.Second, 0},
		{"unreadable label", 3, "later", time.Second, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := exitedCtr("app", tc.attempt, 1, started, started.Add(tc.ran))
			if tc.delay != "" {
				withDelay(c, tc.delay)
			}
			w := testWorker(testPod(corev1.RestartPolicyAlways, []string{"app"}))
			if got := w.restartDelayOf(rec("app", ctrd.KindApp, c, nil)); got != tc.want {
				t.Errorf("restartDelayOf = %v, want %v", got, tc.want)
			}
		})
	}
}

// A container that never started (StartError) has no run time: its delay
// grows as for a crash.
func TestRestartDelayOfStartError(t *testing.T) {
	w := testWorker(testPod(corev1.RestartPolicyAlways, []string{"app"}))
	c := withDelay(startErrCtr("app", 2, "boom"), "10s")
	if got := w.restartDelayOf(rec("app", ctrd.KindApp, c, nil)); got != 20*time.Second {
		t.Errorf("restartDelayOf = %v, want 20s", got)
	}
}

func TestBackoffMessage(t *testing.T) {
	pod := testPod(corev1.RestartPolicyAlways, []string{"app"})
	want := "back-off 40s restarting failed container=app pod=web_default(" + string(testUID) + ")"
	if got := backoffMessage(40*time.Second, "app", pod); got != want {
		t.Errorf("backoffMessage = %q, want %q", got, want)
	}
	want = "back-off 5m0s restarting failed container=side pod=web_default(" + string(testUID) + ")"
	if got := backoffMessage(5*time.Minute, "side", pod); got != want {
		t.Errorf("backoffMessage = %q, want %q", got, want)
	}
}

func TestNextWake(t *testing.T) {
	now := t0.Add(time.Hour)
	for _, tc := range []struct {
		name     string
		refresh  time.Time
		restarts []time.Time
		want     time.Duration
	}{
		{"nothing pending", time.Time{}, nil, 0},
		{"volume refresh", now.Add(time.Minute), nil, time.Minute},
		{"back-off before the refresh", now.Add(time.Minute), []time.Time{now.Add(20 * time.Second)}, 20 * time.Second},
		{"earliest of several back-offs", now.Add(time.Minute), []time.Time{now.Add(40 * time.Second), now.Add(10 * time.Second), {}}, 10 * time.Second},
		{"back-off without refresh", time.Time{}, []time.Time{now.Add(5 * time.Second)}, 5 * time.Second},
		{"refresh before the back-off", now.Add(30 * time.Second), []time.Time{now.Add(5 * time.Minute)}, 30 * time.Second},
		{"back-off already over is ignored", now.Add(time.Minute), []time.Time{now.Add(-time.Second)}, time.Minute},
		{"refresh overdue", now.Add(-time.Second), nil, 10 * time.Millisecond},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := testWorker(testPod(corev1.RestartPolicyAlways, []string{"app"}))
			w.nextVolumeRefresh = tc.refresh
			for i, at := range tc.restarts {
				name := string(rune('a' + i))
				w.records[name] = &tracked{name: name, kind: ctrd.KindApp, crashUntil: at}
			}
			if got := w.nextWake(w.pod, now); got != tc.want {
				t.Errorf("nextWake = %v, want %v", got, tc.want)
			}
		})
	}
}

// step on an exited container that is in its back-off: CrashLoopBackOff with
// the kubelet's message, one BackOff event per back-off, nothing started.
func TestStepCrashLoopBackOff(t *testing.T) {
	ctx := context.Background()
	started, finished := t0.Add(time.Minute), t0.Add(time.Minute+2*time.Second)
	pod := testPod(corev1.RestartPolicyAlways, []string{"app"})
	rc := &fakeRecorder{}
	w := testWorker(pod, rec("app", ctrd.KindApp, withDelay(exitedCtr("app", 2, 1, started, finished), "10s"), nil))
	w.p.cfg.Recorder = rc
	r := w.records["app"]

	now := finished.Add(3 * time.Second)
	w.step(ctx, pod, &pod.Spec.Containers[0], ctrd.KindApp, now)
	if r.waiting.reason != ReasonCrashLoopBackOff {
		t.Fatalf("waiting reason = %q, want %s", r.waiting.reason, ReasonCrashLoopBackOff)
	}
	if want := backoffMessage(20*time.Second, "app", pod); r.waiting.message != want {
		t.Errorf("waiting message = %q, want %q", r.waiting.message, want)
	}
	if want := finished.Add(20 * time.Second); !r.crashUntil.Equal(want) {
		t.Errorf("crashUntil = %v, want %v", r.crashUntil, want)
	}
	if got := w.nextWake(w.pod, now); got != 17*time.Second {
		t.Errorf("nextWake = %v, want 17s", got)
	}

	w.step(ctx, pod, &pod.Spec.Containers[0], ctrd.KindApp, now.Add(5*time.Second))
	ev := rc.byReason(eventBackOff)
	if len(ev) != 1 {
		t.Fatalf("BackOff events = %v, want one for one back-off", ev)
	}
	if ev[0].typ != corev1.EventTypeWarning || ev[0].message != "Back-off restarting failed container app in pod web_default("+string(testUID)+")" {
		t.Errorf("BackOff event = %+v", ev[0])
	}

	st := w.buildStatus(pod, now)
	cs := st.ContainerStatuses[0]
	if cs.State.Waiting == nil || cs.State.Waiting.Reason != ReasonCrashLoopBackOff || cs.State.Waiting.Message != r.waiting.message {
		t.Errorf("container state = %+v, want waiting CrashLoopBackOff", cs.State)
	}
	if lt := cs.LastTerminationState.Terminated; lt == nil || lt.ExitCode != 1 {
		t.Errorf("last termination = %+v, want exit code 1", cs.LastTerminationState)
	}
	if cs.RestartCount != 2 {
		t.Errorf("restartCount = %d, want 2", cs.RestartCount)
	}
	if st.Phase != corev1.PodRunning {
		t.Errorf("phase = %s, want Running", st.Phase)
	}
}

// A start error has no finish time: the back-off counts from creation.
func TestStepBackOffAfterStartError(t *testing.T) {
	pod := testPod(corev1.RestartPolicyAlways, []string{"app"})
	c := withDelay(startErrCtr("app", 1, "boom"), "0s")
	w := testWorker(pod, rec("app", ctrd.KindApp, c, nil))
	r := w.records["app"]
	w.step(context.Background(), pod, &pod.Spec.Containers[0], ctrd.KindApp, c.CreatedAt.Add(time.Second))
	if r.waiting.reason != ReasonCrashLoopBackOff {
		t.Fatalf("waiting reason = %q, want %s", r.waiting.reason, ReasonCrashLoopBackOff)
	}
	if want := c.CreatedAt.Add(10 * time.Second); !r.crashUntil.Equal(want) {
		t.Errorf("crashUntil = %v, want %v", r.crashUntil, want)
	}
}

func TestStepNoRestart(t *testing.T) {
	started, finished := t0.Add(time.Second), t0.Add(time.Minute)
	for _, tc := range []struct {
		name   string
		policy corev1.RestartPolicy
		code   uint32
	}{
		{"Never, failed", corev1.RestartPolicyNever, 1},
		{"Never, succeeded", corev1.RestartPolicyNever, 0},
		{"OnFailure, succeeded", corev1.RestartPolicyOnFailure, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			pod := testPod(tc.policy, []string{"app"})
			rc := &fakeRecorder{}
			w := testWorker(pod, rec("app", ctrd.KindApp, withDelay(exitedCtr("app", 1, tc.code, started, finished), "0s"), nil))
			w.p.cfg.Recorder = rc
			r := w.records["app"]
			r.waiting = failure{ReasonCrashLoopBackOff, "old"}
			w.step(context.Background(), pod, &pod.Spec.Containers[0], ctrd.KindApp, finished.Add(time.Second))
			if r.waiting.reason != "" || r.waiting.message != "" {
				t.Errorf("waiting = %q/%q, want cleared", r.waiting.reason, r.waiting.message)
			}
			if r.current.ID != containerID(testUID, "app", 1) {
				t.Errorf("current attempt changed to %s", r.current.ID)
			}
			if len(rc.events) != 0 {
				t.Errorf("events = %v, want none", rc.events)
			}
			cs := w.statusInput(pod).containerStatus(&pod.Spec.Containers[0], false)
			if cs.State.Terminated == nil || cs.State.Terminated.ExitCode != int32(tc.code) {
				t.Errorf("state = %+v, want terminated with %d", cs.State, tc.code)
			}
		})
	}
}

func TestStepRunningClearsWaiting(t *testing.T) {
	pod := testPod(corev1.RestartPolicyAlways, []string{"app"})
	w := testWorker(pod, rec("app", ctrd.KindApp, runningCtr("app", 3, t0), nil))
	r := w.records["app"]
	r.waiting, r.crashUntil = failure{ReasonCrashLoopBackOff, "old"}, t0.Add(time.Minute)
	w.step(context.Background(), pod, &pod.Spec.Containers[0], ctrd.KindApp, t0.Add(time.Second))
	if !r.waiting.none() || !r.crashUntil.IsZero() {
		t.Errorf("after step: waiting %+v crashUntil %v, want all cleared", r.waiting, r.crashUntil)
	}
}

// While an image pull backs off, ErrImagePull turns into ImagePullBackOff
// with the kubelet's message, once.
func TestStepImagePullBackOff(t *testing.T) {
	pod := testPod(corev1.RestartPolicyAlways, []string{"app"})
	w := testWorker(pod)
	now := t0.Add(time.Minute)
	r := &tracked{name: "app", kind: ctrd.KindApp, pullUntil: now.Add(10 * time.Second),
		waiting: failure{ReasonErrImagePull, "failed to pull image \"busybox:1.36\": not found"}}
	w.records["app"] = r

	want := "Back-off pulling image \"busybox:1.36\": failed to pull image \"busybox:1.36\": not found"
	for i := 0; i < 2; i++ {
		w.step(context.Background(), pod, &pod.Spec.Containers[0], ctrd.KindApp, now.Add(time.Duration(i)*time.Second))
		if r.waiting.reason != ReasonImagePullBackOff || r.waiting.message != want {
			t.Fatalf("step %d: waiting %q/%q, want %s/%q", i, r.waiting.reason, r.waiting.message, ReasonImagePullBackOff, want)
		}
	}
	cs := w.statusInput(pod).containerStatus(&pod.Spec.Containers[0], false)
	if cs.State.Waiting == nil || cs.State.Waiting.Reason != ReasonImagePullBackOff || cs.State.Waiting.Message != want {
		t.Errorf("state = %+v, want waiting ImagePullBackOff", cs.State)
	}
	if got := w.nextWake(w.pod, now); got != 10*time.Second {
		t.Errorf("nextWake = %v, want 10s", got)
	}
}

// Other reasons a container waits are left as they are during the pause.
func TestStepKeepsOtherWaitingReasons(t *testing.T) {
	pod := testPod(corev1.RestartPolicyAlways, []string{"app"})
	w := testWorker(pod)
	now := t0.Add(time.Minute)
	r := &tracked{name: "app", kind: ctrd.KindApp, retryAt: now.Add(2 * time.Second),
		waiting: failure{ReasonCreateConfigError, "configmap \"cfg\" not found"}}
	w.records["app"] = r
	w.step(context.Background(), pod, &pod.Spec.Containers[0], ctrd.KindApp, now)
	if r.waiting.reason != ReasonCreateConfigError || r.waiting.message != "configmap \"cfg\" not found" {
		t.Errorf("waiting = %q/%q, want unchanged", r.waiting.reason, r.waiting.message)
	}
}
