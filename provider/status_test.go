package provider

import (
	"github.com/vk-containerd/vk-containerd/internal/ctrd"

	"net"
	"reflect"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/vk-containerd/vk-containerd/internal/sandbox"
)

func TestBuildStatusPhase(t *testing.T) {
	started, finished := t0.Add(time.Second), t0.Add(time.Minute)
	now := t0.Add(2 * time.Minute)
	crashLoop := func(r *tracked) *tracked {
		r.waiting = failure{ReasonCrashLoopBackOff, "back-off"}
		return r
	}
	for _, tc := range []struct {
		name     string
		policy   corev1.RestartPolicy
		inits    []corev1.Container
		apps     []string
		records  []*tracked
		terminal bool
		want     corev1.PodPhase
	}{
		{
			name: "no record of the app container", policy: corev1.RestartPolicyAlways,
			apps: []string{"app"},
			want: corev1.PodPending,
		},
		{
			name: "image pull failing, no container yet", policy: corev1.RestartPolicyAlways,
			apps:    []string{"app"},
			records: []*tracked{{name: "app", kind: ctrd.KindApp, waiting: failure{ReasonErrImagePull, "not found"}}},
			want:    corev1.PodPending,
		},
		{
			name: "created, never started", policy: corev1.RestartPolicyAlways,
			apps:    []string{"app"},
			records: []*tracked{rec("app", ctrd.KindApp, createdCtr("app", 0), nil)},
			want:    corev1.PodPending,
		},
		{
			name: "one running", policy: corev1.RestartPolicyAlways,
			apps:    []string{"app"},
			records: []*tracked{rec("app", ctrd.KindApp, runningCtr("app", 0, started), nil)},
			want:    corev1.PodRunning,
		},
		{
			name: "one running, the other not created yet", policy: corev1.RestartPolicyAlways,
			apps:    []string{"a", "b"},
			records: []*tracked{rec("a", ctrd.KindApp, runningCtr("a", 0, started), nil)},
			want:    corev1.PodPending,
		},
		{
			name: "Always: exited 0 restarts", policy: corev1.RestartPolicyAlways,
			apps:    []string{"app"},
			records: []*tracked{rec("app", ctrd.KindApp, exitedCtr("app", 0, 0, started, finished), nil)},
			want:    corev1.PodRunning,
		},
		{
			name: "Always: exited 1 in CrashLoopBackOff", policy: corev1.RestartPolicyAlways,
			apps:    []string{"app"},
			records: []*tracked{crashLoop(rec("app", ctrd.KindApp, exitedCtr("app", 3, 1, started, finished), nil))},
			want:    corev1.PodRunning,
		},
		{
			name: "OnFailure: exited 1 restarts", policy: corev1.RestartPolicyOnFailure,
			apps:    []string{"app"},
			records: []*tracked{rec("app", ctrd.KindApp, exitedCtr("app", 0, 1, started, finished), nil)},
			want:    corev1.PodRunning,
		},
		{
			name: "OnFailure: one exited 0, one exited 2 restarting", policy: corev1.RestartPolicyOnFailure,
			apps: []string{"a", "b"},
			records: []*tracked{
				rec("a", ctrd.KindApp, exitedCtr("a", 0, 0, started, finished), nil),
				rec("b", ctrd.KindApp, exitedCtr("b", 0, 2, started, finished), nil),
			},
			want: corev1.PodRunning,
		},
		{
			name: "OnFailure: all exited 0", policy: corev1.RestartPolicyOnFailure,
			apps: []string{"a", "b"},
			records: []*tracked{
				rec("a", ctrd.KindApp, exitedCtr("a", 0, 0, started, finished), nil),
				rec("b", ctrd.KindApp, exitedCtr("b", 2, 0, started, finished), nil),
			},
			want: corev1.PodSucceeded,
		},
		{
			name: "Never: all exited 0", policy: corev1.RestartPolicyNever,
			apps: []string{"a", "b"},
			records: []*tracked{
				rec("a", ctrd.KindApp, exitedCtr("a", 0, 0, started, finished), nil),
				rec("b", ctrd.KindApp, exitedCtr("b", 0, 0, started, finished), nil),
			},
			want: corev1.PodSucceeded,
		},
		{
			name: "Never: one exited 0, one exited 1", policy: corev1.RestartPolicyNever,
			apps: []string{"a", "b"},
			records: []*tracked{
				rec("a", ctrd.KindApp, exitedCtr("a", 0, 0, started, finished), nil),
				rec("b", ctrd.KindApp, exitedCtr("b", 0, 1, started, finished), nil),
			},
			want: corev1.PodFailed,
		},
		{
			name: "Never: exited 1 while another still runs", policy: corev1.RestartPolicyNever,
			apps: []string{"a", "b"},
			records: []*tracked{
				rec("a", ctrd.KindApp, runningCtr("a", 0, started), nil),
				rec("b", ctrd.KindApp, exitedCtr("b", 0, 1, started, finished), nil),
			},
			want: corev1.PodRunning,
		},
		{
			name: "Never: start error", policy: corev1.RestartPolicyNever,
			apps:    []string{"app"},
			records: []*tracked{rec("app", ctrd.KindApp, startErrCtr("app", 0, "exec: \"nope\": executable file not found in $PATH"), nil)},
			want:    corev1.PodFailed,
		},
		{
			name: "failed init container", policy: corev1.RestartPolicyNever,
			inits: []corev1.Container{initC("init")}, apps: []string{"app"},
			records: []*tracked{rec("init", ctrd.KindInit, exitedCtr("init", 0, 1, started, finished), nil)},
			want:    corev1.PodFailed,
		},
		{
			name: "init container not created yet", policy: corev1.RestartPolicyAlways,
			inits: []corev1.Container{initC("init")}, apps: []string{"app"},
			want: corev1.PodPending,
		},
		{
			name: "init container running", policy: corev1.RestartPolicyAlways,
			inits: []corev1.Container{initC("init")}, apps: []string{"app"},
			records: []*tracked{rec("init", ctrd.KindInit, runningCtr("init", 0, started), nil)},
			want:    corev1.PodPending,
		},
		{
			name: "second init container pending", policy: corev1.RestartPolicyAlways,
			inits: []corev1.Container{initC("i1"), initC("i2")}, apps: []string{"app"},
			records: []*tracked{rec("i1", ctrd.KindInit, exitedCtr("i1", 0, 0, started, finished), nil)},
			want:    corev1.PodPending,
		},
		{
			name: "OnFailure: init container crash-looping", policy: corev1.RestartPolicyOnFailure,
			inits: []corev1.Container{initC("init")}, apps: []string{"app"},
			records: []*tracked{crashLoop(rec("init", ctrd.KindInit, exitedCtr("init", 2, 1, started, finished), nil))},
			want:    corev1.PodPending,
		},
		{
			name: "init done, app running", policy: corev1.RestartPolicyAlways,
			inits: []corev1.Container{initC("init")}, apps: []string{"app"},
			records: []*tracked{
				rec("init", ctrd.KindInit, exitedCtr("init", 0, 0, started, finished), nil),
				rec("app", ctrd.KindApp, runningCtr("app", 0, finished), nil),
			},
			want: corev1.PodRunning,
		},
		{
			name: "sidecar not started yet", policy: corev1.RestartPolicyAlways,
			inits: []corev1.Container{sidecarC("proxy")}, apps: []string{"app"},
			records: []*tracked{{name: "proxy", kind: ctrd.KindSidecar}},
			want:    corev1.PodPending,
		},
		{
			name: "sidecar and app running", policy: corev1.RestartPolicyAlways,
			inits: []corev1.Container{sidecarC("proxy")}, apps: []string{"app"},
			records: []*tracked{
				rec("proxy", ctrd.KindSidecar, runningCtr("proxy", 0, started), nil),
				rec("app", ctrd.KindApp, runningCtr("app", 0, finished), nil),
			},
			want: corev1.PodRunning,
		},
		{
			name: "terminal: Always, exited 1 no longer restarts", policy: corev1.RestartPolicyAlways,
			apps:     []string{"app"},
			records:  []*tracked{rec("app", ctrd.KindApp, exitedCtr("app", 0, 1, started, finished), nil)},
			terminal: true,
			want:     corev1.PodFailed,
		},
		{
			name: "terminal: Always, exited 0", policy: corev1.RestartPolicyAlways,
			apps:     []string{"app"},
			records:  []*tracked{rec("app", ctrd.KindApp, exitedCtr("app", 0, 0, started, finished), nil)},
			terminal: true,
			want:     corev1.PodSucceeded,
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			pod := testPod(tc.policy, tc.apps, tc.inits...)
			w := testWorker(pod, tc.records...)
			if tc.terminal {
				w.state = stateTerminal
			}
			if got := w.buildStatus(pod, now).Phase; got != tc.want {
				t.Errorf("phase = %s, want %s", got, tc.want)
			}
		})
	}
}

func TestContainerStatus(t *testing.T) {
	started, finished := t0.Add(time.Second), t0.Add(time.Minute)
	started2 := t0.Add(2 * time.Minute)
	pFalse, pTrue := func() *bool { b := false; return &b }, func() *bool { b := true; return &b }
	startErr := "failed to create shim task: exec: \"nope\": executable file not found in $PATH"

	for _, tc := range []struct {
		name         string
		r            *tracked // nil: no record
		waitsForInit bool
		want         corev1.ContainerStatus
	}{
		{
			name: "running, restarted twice",
			r:    rec("app", ctrd.KindApp, runningCtr("app", 2, started2), exitedCtr("app", 1, 1, started, finished)),
			want: corev1.ContainerStatus{
				Name: "app", Image: "busybox:1.36", ImageID: testRef,
				ContainerID:  "containerd://" + containerID(testUID, "app", 2),
				RestartCount: 2, Ready: true, Started: pTrue(),
				State: corev1.ContainerState{Running: &corev1.ContainerStateRunning{StartedAt: metav1.NewTime(started2)}},
				LastTerminationState: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{
					ExitCode: 1, Reason: ReasonError,
					StartedAt: metav1.NewTime(started), FinishedAt: metav1.NewTime(finished),
					ContainerID: "containerd://" + containerID(testUID, "app", 1),
				}},
			},
		},
		{
			name: "running, first attempt",
			r:    rec("app", ctrd.KindApp, runningCtr("app", 0, started), nil),
			want: corev1.ContainerStatus{
				Name: "app", Image: "busybox:1.36", ImageID: testRef,
				ContainerID:  "containerd://" + containerID(testUID, "app", 0),
				RestartCount: 0, Ready: true, Started: pTrue(),
				State: corev1.ContainerState{Running: &corev1.ContainerStateRunning{StartedAt: metav1.NewTime(started)}},
			},
		},
		{
			name: "exited 1, CrashLoopBackOff",
			r: func() *tracked {
				r := rec("app", ctrd.KindApp, exitedCtr("app", 3, 1, started, finished), nil)
				r.waiting = failure{ReasonCrashLoopBackOff, "back-off 40s restarting failed container=app pod=web_default(uid)"}
				return r
			}(),
			want: corev1.ContainerStatus{
				Name: "app", Image: "busybox:1.36", ImageID: testRef,
				ContainerID:  "containerd://" + containerID(testUID, "app", 3),
				RestartCount: 3, Started: pFalse(),
				State: corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{
					Reason: ReasonCrashLoopBackOff, Message: "back-off 40s restarting failed container=app pod=web_default(uid)",
				}},
				LastTerminationState: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{
					ExitCode: 1, Reason: ReasonError,
					StartedAt: metav1.NewTime(started), FinishedAt: metav1.NewTime(finished),
					ContainerID: "containerd://" + containerID(testUID, "app", 3),
				}},
			},
		},
		{
			name: "exited 0, Completed",
			r:    rec("app", ctrd.KindApp, exitedCtr("app", 0, 0, started, finished), nil),
			want: corev1.ContainerStatus{
				Name: "app", Image: "busybox:1.36", ImageID: testRef,
				ContainerID: "containerd://" + containerID(testUID, "app", 0),
				Started:     pFalse(),
				State: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{
					ExitCode: 0, Reason: ReasonCompleted,
					StartedAt: metav1.NewTime(started), FinishedAt: metav1.NewTime(finished),
					ContainerID: "containerd://" + containerID(testUID, "app", 0),
				}},
			},
		},
		{
			name: "exited 137 (SIGKILL), with the attempt before",
			r:    rec("app", ctrd.KindApp, exitedCtr("app", 1, 137, started2, started2.Add(time.Second)), exitedCtr("app", 0, 0, started, finished)),
			want: corev1.ContainerStatus{
				Name: "app", Image: "busybox:1.36", ImageID: testRef,
				ContainerID:  "containerd://" + containerID(testUID, "app", 1),
				RestartCount: 1, Started: pFalse(),
				State: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{
					ExitCode: 137, Signal: 9, Reason: ReasonError,
					StartedAt: metav1.NewTime(started2), FinishedAt: metav1.NewTime(started2.Add(time.Second)),
					ContainerID: "containerd://" + containerID(testUID, "app", 1),
				}},
				LastTerminationState: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{
					ExitCode: 0, Reason: ReasonCompleted,
					StartedAt: metav1.NewTime(started), FinishedAt: metav1.NewTime(finished),
					ContainerID: "containerd://" + containerID(testUID, "app", 0),
				}},
			},
		},
		{
			name: "start error, not restarted",
			r:    rec("app", ctrd.KindApp, startErrCtr("app", 0, startErr), nil),
			want: corev1.ContainerStatus{
				Name: "app", Image: "busybox:1.36", ImageID: testRef,
				ContainerID: "containerd://" + containerID(testUID, "app", 0),
				Started:     pFalse(),
				State: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{
					ExitCode: 128, Reason: ReasonStartError, Message: startErr,
					FinishedAt:  metav1.NewTime(createdCtr("app", 0).CreatedAt),
					ContainerID: "containerd://" + containerID(testUID, "app", 0),
				}},
			},
		},
		{
			name: "start error, waiting to run again",
			r: func() *tracked {
				r := rec("app", ctrd.KindApp, startErrCtr("app", 1, startErr), nil)
				r.waiting = failure{ReasonRunContainerError, startErr}
				return r
			}(),
			want: corev1.ContainerStatus{
				Name: "app", Image: "busybox:1.36", ImageID: testRef,
				ContainerID:  "containerd://" + containerID(testUID, "app", 1),
				RestartCount: 1, Started: pFalse(),
				State: corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: ReasonRunContainerError, Message: startErr}},
				LastTerminationState: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{
					ExitCode: 128, Reason: ReasonStartError, Message: startErr,
					FinishedAt:  metav1.NewTime(createdCtr("app", 1).CreatedAt),
					ContainerID: "containerd://" + containerID(testUID, "app", 1),
				}},
			},
		},
		{
			name: "created, not started",
			r:    rec("app", ctrd.KindApp, createdCtr("app", 0), nil),
			want: corev1.ContainerStatus{
				Name: "app", Image: "busybox:1.36", ImageID: testRef,
				ContainerID: "containerd://" + containerID(testUID, "app", 0),
				Started:     pFalse(),
				State:       corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: ReasonContainerCreating}},
			},
		},
		{
			name: "no record",
			want: corev1.ContainerStatus{
				Name: "app", Image: "busybox:1.36", Started: pFalse(),
				State: corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: ReasonContainerCreating}},
			},
		},
		{
			name:         "no record, init containers not done",
			waitsForInit: true,
			want: corev1.ContainerStatus{
				Name: "app", Image: "busybox:1.36", Started: pFalse(),
				State: corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: ReasonPodInitializing}},
			},
		},
		{
			name: "image pull failed",
			r:    &tracked{name: "app", kind: ctrd.KindApp, waiting: failure{ReasonErrImagePull, "failed to pull image \"busybox:1.36\": not found"}},
			want: corev1.ContainerStatus{
				Name: "app", Image: "busybox:1.36", Started: pFalse(),
				State: corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{
					Reason: ReasonErrImagePull, Message: "failed to pull image \"busybox:1.36\": not found",
				}},
			},
		},
		{
			name: "image pull back-off",
			r:    &tracked{name: "app", kind: ctrd.KindApp, waiting: failure{ReasonImagePullBackOff, "Back-off pulling image \"busybox:1.36\": not found"}},
			want: corev1.ContainerStatus{
				Name: "app", Image: "busybox:1.36", Started: pFalse(),
				State: corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{
					Reason: ReasonImagePullBackOff, Message: "Back-off pulling image \"busybox:1.36\": not found",
				}},
			},
		},
		{
			name: "invalid image name",
			r:    &tracked{name: "app", kind: ctrd.KindApp, waiting: failure{ReasonInvalidImageName, "bad"}},
			want: corev1.ContainerStatus{
				Name: "app", Image: "busybox:1.36", Started: pFalse(),
				State: corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: ReasonInvalidImageName, Message: "bad"}},
			},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			pod := testPod(corev1.RestartPolicyAlways, []string{"app"})
			w := testWorker(pod)
			if tc.r != nil {
				w.records["app"] = tc.r
			}
			if tc.want.ContainerID != "" && tc.want.Resources == nil {
				// Every attempt reports its resources; the test pod asks for none.
				tc.want.Resources = &corev1.ResourceRequirements{}
			}
			got := w.statusInput(pod).containerStatus(&pod.Spec.Containers[0], tc.waitsForInit)
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("containerStatus:\n got %s\nwant %s", dumpCS(got), dumpCS(tc.want))
			}
		})
	}
}

func dumpCS(cs corev1.ContainerStatus) string {
	s := cs.String()
	if cs.Started != nil {
		s += " started=" + map[bool]string{true: "true", false: "false"}[*cs.Started]
	}
	return s
}

func TestBuildStatusInitAndAppStatuses(t *testing.T) {
	started := t0.Add(time.Second)
	pod := testPod(corev1.RestartPolicyAlways, []string{"app"}, initC("init"))
	w := testWorker(pod, rec("init", ctrd.KindInit, runningCtr("init", 0, started), nil))
	st := w.buildStatus(pod, t0.Add(time.Minute))
	if len(st.InitContainerStatuses) != 1 || st.InitContainerStatuses[0].State.Running == nil {
		t.Fatalf("init container statuses = %+v, want one running", st.InitContainerStatuses)
	}
	if len(st.ContainerStatuses) != 1 {
		t.Fatalf("container statuses = %+v, want one", st.ContainerStatuses)
	}
	if w := st.ContainerStatuses[0].State.Waiting; w == nil || w.Reason != ReasonPodInitializing {
		t.Errorf("app container state = %+v, want waiting %s", st.ContainerStatuses[0].State, ReasonPodInitializing)
	}
}

func TestBuildStatusIPs(t *testing.T) {
	now := t0.Add(time.Minute)
	for _, tc := range []struct {
		name        string
		hostNetwork bool
		sb          *sandbox.Sandbox
		prev        corev1.PodStatus
		hostIP      net.IP
		wantPodIPs  []string
		wantHostIP  string
	}{
		{
			name:       "IPv4 sandbox",
			sb:         &sandbox.Sandbox{IPs: []net.IP{net.ParseIP("10.244.0.5")}},
			hostIP:     net.ParseIP("10.0.0.1"),
			wantPodIPs: []string{"10.244.0.5"}, wantHostIP: "10.0.0.1",
		},
		{
			name:       "dual-stack sandbox, IPv4 first",
			sb:         &sandbox.Sandbox{IPs: []net.IP{net.ParseIP("10.244.0.5"), net.ParseIP("fd00:10:244::5")}},
			hostIP:     net.ParseIP("10.0.0.1"),
			wantPodIPs: []string{"10.244.0.5", "fd00:10:244::5"}, wantHostIP: "10.0.0.1",
		},
		{
			name:        "hostNetwork reports the host IP",
			hostNetwork: true,
			sb:          &sandbox.Sandbox{HostNetwork: true},
			hostIP:      net.ParseIP("10.0.0.1"),
			wantPodIPs:  []string{"10.0.0.1"}, wantHostIP: "10.0.0.1",
		},
		{
			name:       "no sandbox yet, no IP",
			hostIP:     net.ParseIP("10.0.0.1"),
			wantPodIPs: nil, wantHostIP: "10.0.0.1",
		},
		{
			name:       "no sandbox yet, IP of the earlier status kept",
			prev:       corev1.PodStatus{PodIP: "10.244.0.9", PodIPs: []corev1.PodIP{{IP: "10.244.0.9"}}},
			hostIP:     net.ParseIP("10.0.0.1"),
			wantPodIPs: []string{"10.244.0.9"}, wantHostIP: "10.0.0.1",
		},
		{
			name:       "no host IP configured",
			sb:         &sandbox.Sandbox{IPs: []net.IP{net.ParseIP("10.244.0.5")}},
			wantPodIPs: []string{"10.244.0.5"}, wantHostIP: "",
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			pod := testPod(corev1.RestartPolicyAlways, []string{"app"})
			pod.Spec.HostNetwork = tc.hostNetwork
			pod.Status = tc.prev
			w := testWorker(pod)
			w.p.cfg.HostIP = tc.hostIP
			w.sb = tc.sb
			st := w.buildStatus(pod, now)

			var got []string
			for _, ip := range st.PodIPs {
				got = append(got, ip.IP)
			}
			if !reflect.DeepEqual(got, tc.wantPodIPs) {
				t.Errorf("podIPs = %v, want %v", got, tc.wantPodIPs)
			}
			wantPodIP := ""
			if len(tc.wantPodIPs) > 0 {
				wantPodIP = tc.wantPodIPs[0]
			}
			if st.PodIP != wantPodIP {
				t.Errorf("podIP = %q, want %q", st.PodIP, wantPodIP)
			}
			if st.HostIP != tc.wantHostIP {
				t.Errorf("hostIP = %q, want %q", st.HostIP, tc.wantHostIP)
			}
			var wantHostIPs []corev1.HostIP
			if tc.wantHostIP != "" {
				wantHostIPs = []corev1.HostIP{{IP: tc.wantHostIP}}
			}
			if !reflect.DeepEqual(st.HostIPs, wantHostIPs) {
				t.Errorf("hostIPs = %v, want %v", st.HostIPs, wantHostIPs)
			}
		})
	}
}

func TestBuildStatusKeepsQOSAndStartTime(t *testing.T) {
	pod := testPod(corev1.RestartPolicyAlways, []string{"app"})
	pod.Status.QOSClass = corev1.PodQOSBurstable
	w := testWorker(pod)
	st := w.buildStatus(pod, t0.Add(time.Minute))
	if st.QOSClass != corev1.PodQOSBurstable {
		t.Errorf("qosClass = %q, want %q", st.QOSClass, corev1.PodQOSBurstable)
	}
	if st.StartTime == nil || !st.StartTime.Time.Equal(t0) {
		t.Errorf("startTime = %v, want %v", st.StartTime, t0)
	}
}

func TestBuildStatusSandboxError(t *testing.T) {
	pod := testPod(corev1.RestartPolicyAlways, []string{"app"})
	w := testWorker(pod)
	w.sb = nil
	w.state = stateCreating
	w.sandboxFailure = failure{eventSandboxError, "plugin type=\"bridge\" failed (add): no IP addresses available"}
	st := w.buildStatus(pod, t0.Add(time.Minute))
	if st.Message != w.sandboxFailure.message {
		t.Errorf("message = %q, want the sandbox error %q", st.Message, w.sandboxFailure.message)
	}
	if st.Phase != corev1.PodPending {
		t.Errorf("phase = %s, want Pending", st.Phase)
	}
	if cs := st.ContainerStatuses[0]; cs.State.Waiting == nil || cs.State.Waiting.Reason != ReasonContainerCreating {
		t.Errorf("container state = %+v, want waiting ContainerCreating", cs.State)
	}

	// Once the sandbox exists the message goes.
	w.sb = &sandbox.Sandbox{IPs: []net.IP{net.ParseIP("10.244.0.5")}}
	if st := w.buildStatus(pod, t0.Add(time.Minute)); st.Message != "" {
		t.Errorf("message = %q with a sandbox, want none", st.Message)
	}
}

// A running container's status survives a round trip through the recorded
// status: equal inputs give semantically equal outputs, so setStatus does not
// publish without a change.
func TestBuildStatusStable(t *testing.T) {
	pod := testPod(corev1.RestartPolicyAlways, []string{"app"})
	w := testWorker(pod, rec("app", ctrd.KindApp, runningCtr("app", 0, t0.Add(time.Second)), nil))
	first := w.buildStatus(pod, t0.Add(time.Minute))
	w.status = first
	second := w.buildStatus(pod, t0.Add(2*time.Minute))
	if !reflect.DeepEqual(first, second) {
		t.Errorf("status changed without a change:\n first %s\nsecond %s", first.String(), second.String())
	}
}
