package provider

import (
	"reflect"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/vk-containerd/vk-containerd/internal/ctrd"
)

func TestBuildStatusConditions(t *testing.T) {
	started, finished := t0.Add(time.Second), t0.Add(time.Minute)
	now := t0.Add(5 * time.Minute)
	T, F := corev1.ConditionTrue, corev1.ConditionFalse
	type want struct {
		status corev1.ConditionStatus
		reason string
	}
	for _, tc := range []struct {
		name     string
		policy   corev1.RestartPolicy
		inits    []corev1.Container
		records  []*tracked
		noSB     bool
		terminal bool
		want     map[corev1.PodConditionType]want
	}{
		{
			name: "all running", policy: corev1.RestartPolicyAlways,
			records: []*tracked{rec("app", ctrd.KindApp, runningCtr("app", 0, started), nil)},
			want: map[corev1.PodConditionType]want{
				corev1.PodScheduled:              {T, ""},
				corev1.PodReadyToStartContainers: {T, ""},
				corev1.PodInitialized:            {T, ""},
				corev1.ContainersReady:           {T, ""},
				corev1.PodReady:                  {T, ""},
			},
		},
		{
			name: "no sandbox yet", policy: corev1.RestartPolicyAlways, noSB: true,
			want: map[corev1.PodConditionType]want{
				corev1.PodScheduled:              {T, ""},
				corev1.PodReadyToStartContainers: {F, ""},
				corev1.PodInitialized:            {T, ""},
				corev1.ContainersReady:           {F, "ContainersNotReady"},
				corev1.PodReady:                  {F, "ContainersNotReady"},
			},
		},
		{
			name: "init container running", policy: corev1.RestartPolicyAlways,
			inits:   []corev1.Container{initC("init")},
			records: []*tracked{rec("init", ctrd.KindInit, runningCtr("init", 0, started), nil)},
			want: map[corev1.PodConditionType]want{
				corev1.PodReadyToStartContainers: {T, ""},
				corev1.PodInitialized:            {F, "ContainersNotInitialized"},
				corev1.ContainersReady:           {F, "ContainersNotReady"},
				corev1.PodReady:                  {F, "ContainersNotReady"},
			},
		},
		{
			name: "init done, app running", policy: corev1.RestartPolicyAlways,
			inits: []corev1.Container{initC("init")},
			records: []*tracked{
				rec("init", ctrd.KindInit, exitedCtr("init", 0, 0, started, finished), nil),
				rec("app", ctrd.KindApp, runningCtr("app", 0, finished), nil),
			},
			want: map[corev1.PodConditionType]want{
				corev1.PodInitialized:  {T, ""},
				corev1.ContainersReady: {T, ""},
				corev1.PodReady:        {T, ""},
			},
		},
		{
			name: "app crash-looping", policy: corev1.RestartPolicyAlways,
			records: []*tracked{func() *tracked {
				r := rec("app", ctrd.KindApp, exitedCtr("app", 1, 1, started, finished), nil)
				r.waiting.reason = ReasonCrashLoopBackOff
				return r
			}()},
			want: map[corev1.PodConditionType]want{
				corev1.PodInitialized:  {T, ""},
				corev1.ContainersReady: {F, "ContainersNotReady"},
				corev1.PodReady:        {F, "ContainersNotReady"},
			},
		},
		{
			name: "sidecar crash-looping, app running", policy: corev1.RestartPolicyAlways,
			inits: []corev1.Container{sidecarC("proxy")},
			records: []*tracked{
				func() *tracked {
					r := rec("proxy", ctrd.KindSidecar, exitedCtr("proxy", 1, 1, started, finished), nil)
					r.waiting.reason = ReasonCrashLoopBackOff
					return r
				}(),
				rec("app", ctrd.KindApp, runningCtr("app", 0, finished), nil),
			},
			want: map[corev1.PodConditionType]want{
				corev1.PodInitialized:  {T, ""},
				corev1.ContainersReady: {F, "ContainersNotReady"},
				corev1.PodReady:        {F, "ContainersNotReady"},
			},
		},
		{
			name: "sidecar not created yet", policy: corev1.RestartPolicyAlways,
			inits:   []corev1.Container{sidecarC("proxy")},
			records: []*tracked{{name: "proxy", kind: ctrd.KindSidecar}},
			want: map[corev1.PodConditionType]want{
				corev1.PodInitialized: {F, "ContainersNotInitialized"},
				corev1.PodReady:       {F, "ContainersNotReady"},
			},
		},
		{
			name: "sidecar created, not started", policy: corev1.RestartPolicyAlways,
			inits:   []corev1.Container{sidecarC("proxy")},
			records: []*tracked{rec("proxy", ctrd.KindSidecar, createdCtr("proxy", 0), nil)},
			want: map[corev1.PodConditionType]want{
				corev1.PodInitialized: {F, "ContainersNotInitialized"},
				corev1.PodReady:       {F, "ContainersNotReady"},
			},
		},
		{
			name: "sidecar and app running", policy: corev1.RestartPolicyAlways,
			inits: []corev1.Container{sidecarC("proxy")},
			records: []*tracked{
				rec("proxy", ctrd.KindSidecar, runningCtr("proxy", 0, started), nil),
				rec("app", ctrd.KindApp, runningCtr("app", 0, finished), nil),
			},
			want: map[corev1.PodConditionType]want{
				corev1.PodInitialized:  {T, ""},
				corev1.ContainersReady: {T, ""},
				corev1.PodReady:        {T, ""},
			},
		},
		{
			name: "Succeeded", policy: corev1.RestartPolicyNever, terminal: true,
			records: []*tracked{rec("app", ctrd.KindApp, exitedCtr("app", 0, 0, started, finished), nil)},
			want: map[corev1.PodConditionType]want{
				corev1.PodReadyToStartContainers: {F, ""},
				corev1.PodInitialized:            {T, "PodCompleted"},
				corev1.ContainersReady:           {F, ""},
				corev1.PodReady:                  {F, ""},
			},
		},
		{
			name: "Failed", policy: corev1.RestartPolicyNever, terminal: true,
			records: []*tracked{rec("app", ctrd.KindApp, exitedCtr("app", 0, 1, started, finished), nil)},
			want: map[corev1.PodConditionType]want{
				corev1.PodReadyToStartContainers: {F, ""},
				corev1.PodInitialized:            {T, ""},
				corev1.ContainersReady:           {F, ""},
				corev1.PodReady:                  {F, ""},
			},
		},
		{
			// The phase is Succeeded before the worker marks itself terminal.
			name: "Succeeded, not yet marked terminal", policy: corev1.RestartPolicyNever,
			records: []*tracked{rec("app", ctrd.KindApp, exitedCtr("app", 0, 0, started, finished), nil)},
			want: map[corev1.PodConditionType]want{
				corev1.ContainersReady: {F, ""},
				corev1.PodReady:        {F, ""},
			},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			pod := testPod(tc.policy, []string{"app"}, tc.inits...)
			w := testWorker(pod, tc.records...)
			if tc.noSB {
				w.sb = nil
			}
			if tc.terminal {
				w.state = stateTerminal
			}
			st := w.buildStatus(pod, now)
			for typ, wc := range tc.want {
				c, n := condition(st.Conditions, typ)
				if n != 1 {
					t.Errorf("%s: %d conditions, want 1 (all: %+v)", typ, n, st.Conditions)
					continue
				}
				if c.Status != wc.status {
					t.Errorf("%s status = %s, want %s", typ, c.Status, wc.status)
				}
				// Terminal Ready/ContainersReady reasons are checked in
				// TestBuildStatusTerminalReadyReasons.
				if wc.reason != "" || c.Status == T {
					if c.Reason != wc.reason {
						t.Errorf("%s reason = %q, want %q", typ, c.Reason, wc.reason)
					}
				}
				if typ == corev1.PodReadyToStartContainers && c.Reason != "" {
					t.Errorf("%s reason = %q, want none", typ, c.Reason)
				}
			}
		})
	}
}

// The kubelet gives terminal pods the reason PodCompleted or PodFailed on
// Ready and ContainersReady (generateContainersReadyConditionForTerminalPhase).
func TestBuildStatusTerminalReadyReasons(t *testing.T) {
	started, finished := t0.Add(time.Second), t0.Add(time.Minute)
	for _, tc := range []struct {
		name   string
		code   uint32
		phase  corev1.PodPhase
		reason string
	}{
		{"Succeeded", 0, corev1.PodSucceeded, "PodCompleted"},
		{"Failed", 1, corev1.PodFailed, "PodFailed"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			pod := testPod(corev1.RestartPolicyNever, []string{"app"})
			w := testWorker(pod, rec("app", ctrd.KindApp, exitedCtr("app", 0, tc.code, started, finished), nil))
			w.state = stateTerminal
			st := w.buildStatus(pod, finished)
			if st.Phase != tc.phase {
				t.Fatalf("phase = %s, want %s", st.Phase, tc.phase)
			}
			for _, typ := range []corev1.PodConditionType{corev1.ContainersReady, corev1.PodReady} {
				c, _ := condition(st.Conditions, typ)
				if c.Status != corev1.ConditionFalse || c.Reason != tc.reason {
					t.Errorf("%s = %s/%q, want False/%q", typ, c.Status, c.Reason, tc.reason)
				}
			}
		})
	}
}

func TestBuildStatusPodScheduled(t *testing.T) {
	earlier := metav1.NewTime(t0.Add(-time.Hour))
	gate := corev1.PodConditionType("example.com/feature-ready")
	now := t0.Add(time.Minute)

	t.Run("added when the pod has none", func(t *testing.T) {
		pod := testPod(corev1.RestartPolicyAlways, []string{"app"})
		w := testWorker(pod)
		st := w.buildStatus(pod, now)
		c, n := condition(st.Conditions, corev1.PodScheduled)
		if n != 1 || c.Status != corev1.ConditionTrue {
			t.Fatalf("PodScheduled = %+v (%d), want one, True", c, n)
		}
		if !c.LastTransitionTime.Equal(&w.startTime) {
			t.Errorf("PodScheduled lastTransitionTime = %v, want the start time %v", c.LastTransitionTime, w.startTime)
		}
	})

	t.Run("kept as the scheduler wrote it, with others' conditions", func(t *testing.T) {
		pod := testPod(corev1.RestartPolicyAlways, []string{"app"})
		scheduled := corev1.PodCondition{Type: corev1.PodScheduled, Status: corev1.ConditionTrue, LastTransitionTime: earlier, Reason: "x"}
		custom := corev1.PodCondition{Type: gate, Status: corev1.ConditionFalse, LastTransitionTime: earlier}
		pod.Status.Conditions = []corev1.PodCondition{
			scheduled, custom,
			// ours from an earlier status: replaced, not duplicated
			{Type: corev1.PodReady, Status: corev1.ConditionTrue, LastTransitionTime: earlier},
			{Type: corev1.PodInitialized, Status: corev1.ConditionTrue, LastTransitionTime: earlier},
		}
		w := testWorker(pod)
		st := w.buildStatus(pod, now)
		if c, n := condition(st.Conditions, corev1.PodScheduled); n != 1 || !reflect.DeepEqual(c, scheduled) {
			t.Errorf("PodScheduled = %+v (%d), want %+v once", c, n, scheduled)
		}
		if c, n := condition(st.Conditions, gate); n != 1 || !reflect.DeepEqual(c, custom) {
			t.Errorf("%s = %+v (%d), want %+v once", gate, c, n, custom)
		}
		for _, typ := range []corev1.PodConditionType{corev1.PodReady, corev1.PodInitialized, corev1.ContainersReady, corev1.PodReadyToStartContainers} {
			if _, n := condition(st.Conditions, typ); n != 1 {
				t.Errorf("%d %s conditions, want 1", n, typ)
			}
		}
		if c, _ := condition(st.Conditions, corev1.PodReady); c.Status != corev1.ConditionFalse || !c.LastTransitionTime.Equal(&metav1.Time{Time: now}) {
			t.Errorf("Ready = %+v, want False since now (no container runs)", c)
		}
	})
}

func TestBuildStatusLastTransitionTime(t *testing.T) {
	started := t0.Add(time.Second)
	readySince := metav1.NewTime(t0.Add(2 * time.Second))
	now := t0.Add(10 * time.Minute)
	prev := []corev1.PodCondition{
		{Type: corev1.PodReadyToStartContainers, Status: corev1.ConditionTrue, LastTransitionTime: readySince},
		{Type: corev1.PodInitialized, Status: corev1.ConditionTrue, LastTransitionTime: readySince},
		{Type: corev1.ContainersReady, Status: corev1.ConditionTrue, LastTransitionTime: readySince},
		{Type: corev1.PodReady, Status: corev1.ConditionTrue, LastTransitionTime: readySince},
	}

	t.Run("unchanged status keeps the time", func(t *testing.T) {
		pod := testPod(corev1.RestartPolicyAlways, []string{"app"})
		w := testWorker(pod, rec("app", ctrd.KindApp, runningCtr("app", 0, started), nil))
		w.status.Conditions = prev
		st := w.buildStatus(pod, now)
		for _, p := range prev {
			c, _ := condition(st.Conditions, p.Type)
			if c.Status != corev1.ConditionTrue || !c.LastTransitionTime.Equal(&readySince) {
				t.Errorf("%s = %s since %v, want True since %v", p.Type, c.Status, c.LastTransitionTime, readySince)
			}
		}
	})

	t.Run("changed status takes now", func(t *testing.T) {
		pod := testPod(corev1.RestartPolicyAlways, []string{"app"})
		r := rec("app", ctrd.KindApp, exitedCtr("app", 1, 1, started, now.Add(-time.Second)), nil)
		r.waiting.reason = ReasonCrashLoopBackOff
		w := testWorker(pod, r)
		w.status.Conditions = prev
		st := w.buildStatus(pod, now)
		nowT := metav1.NewTime(now)
		for _, typ := range []corev1.PodConditionType{corev1.ContainersReady, corev1.PodReady} {
			c, _ := condition(st.Conditions, typ)
			if c.Status != corev1.ConditionFalse || !c.LastTransitionTime.Equal(&nowT) {
				t.Errorf("%s = %s since %v, want False since %v", typ, c.Status, c.LastTransitionTime, nowT)
			}
		}
		for _, typ := range []corev1.PodConditionType{corev1.PodInitialized, corev1.PodReadyToStartContainers} {
			c, _ := condition(st.Conditions, typ)
			if !c.LastTransitionTime.Equal(&readySince) {
				t.Errorf("%s since %v, want kept %v", typ, c.LastTransitionTime, readySince)
			}
		}
	})
}
