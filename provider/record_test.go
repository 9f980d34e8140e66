package provider

import (
	"math"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/vk-containerd/vk-containerd/internal/ctrd"
)

func TestShouldRestart(t *testing.T) {
	const (
		always    = corev1.RestartPolicyAlways
		onFailure = corev1.RestartPolicyOnFailure
		never     = corev1.RestartPolicyNever
	)
	for _, tc := range []struct {
		kind   string
		policy corev1.RestartPolicy
		code   int32
		want   bool
	}{
		{ctrd.KindApp, always, 0, true},
		{ctrd.KindApp, always, 1, true},
		{ctrd.KindApp, always, 137, true},
		{ctrd.KindApp, "", 0, true}, // the API server defaults to Always
		{ctrd.KindApp, onFailure, 0, false},
		{ctrd.KindApp, onFailure, 1, true},
		{ctrd.KindApp, onFailure, 128, true},
		{ctrd.KindApp, never, 0, false},
		{ctrd.KindApp, never, 1, false},
		// Init containers run to completion: Always means OnFailure for them.
		{ctrd.KindInit, always, 0, false},
		{ctrd.KindInit, always, 1, true},
		{ctrd.KindInit, onFailure, 0, false},
		{ctrd.KindInit, onFailure, 2, true},
		{ctrd.KindInit, never, 0, false},
		{ctrd.KindInit, never, 1, false},
		// Sidecars (restartable init containers) always restart.
		{ctrd.KindSidecar, always, 0, true},
		{ctrd.KindSidecar, always, 1, true},
		{ctrd.KindSidecar, onFailure, 0, true},
		{ctrd.KindSidecar, never, 0, true},
		{ctrd.KindSidecar, never, 1, true},
	} {
		if got := shouldRestart(tc.kind, tc.policy, tc.code); got != tc.want {
			t.Errorf("shouldRestart(%s, %q, %d) = %v, want %v", tc.kind, tc.policy, tc.code, got, tc.want)
		}
	}
}

// containerd's identifier rule (pkg/identifiers): at most 76 characters,
// alphanumeric components joined by one of ._-
var containerdID = regexp.MustCompile(`^[A-Za-z0-9]+(?:[._-][A-Za-z0-9]+)*$`)

const containerdMaxIDLength = 76

func TestContainerIDRoundTrip(t *testing.T) {
	long := strings.Repeat("a", 30) + "-" + strings.Repeat("b", 32) // 63, the DNS label limit
	if len(long) != 63 {
		t.Fatalf("test name has %d characters", len(long))
	}
	uids := []types.UID{testUID, "ffffffff-ffff-ffff-ffff-ffffffffffff"}
	names := []string{"a", "app", "my-sidecar", long}
	attempts := []int{0, 1, 9, 10, 12345, math.MaxInt32}
	seen := map[string]string{}
	for _, uid := range uids {
		for _, name := range names {
			for _, attempt := range attempts {
				id := containerID(uid, name, attempt)
				what := string(uid) + "/" + name + "/" + strconv.Itoa(attempt)
				if len(id) > containerdMaxIDLength {
					t.Errorf("containerID(%s) = %q has %d characters, containerd allows %d", what, id, len(id), containerdMaxIDLength)
				}
				if !containerdID.MatchString(id) {
					t.Errorf("containerID(%s) = %q is not a valid containerd identifier", what, id)
				}
				if got := podUIDOf(id); got != uid {
					t.Errorf("podUIDOf(containerID(%s)) = %q, want %q", what, got, uid)
				}
				if !strings.HasSuffix(id, "-"+strconv.Itoa(attempt)) {
					t.Errorf("containerID(%s) = %q does not end in the attempt", what, id)
				}
				if other, dup := seen[id]; dup {
					t.Errorf("containerID(%s) = containerID(%s) = %q", what, other, id)
				}
				seen[id] = what
				if again := containerID(uid, name, attempt); again != id {
					t.Errorf("containerID(%s) not stable: %q then %q", what, id, again)
				}
			}
		}
	}
}

func TestPodUIDOfShortID(t *testing.T) {
	for _, id := range []string{"", "abc", string(testUID[:35])} {
		if got := podUIDOf(id); got != "" {
			t.Errorf("podUIDOf(%q) = %q, want empty", id, got)
		}
	}
}

func TestTrackedState(t *testing.T) {
	started, finished := t0.Add(time.Second), t0.Add(time.Minute)
	for _, tc := range []struct {
		name        string
		current     *ctrd.ContainerStatus
		wantAttempt int
		wantRunning bool
		wantExited  bool
		wantCode    int32
	}{
		{"no container", nil, -1, false, false, 0},
		{"created", createdCtr("app", 0), 0, false, false, 0},
		{"running", runningCtr("app", 4, started), 4, true, false, 0},
		{"exited 0", exitedCtr("app", 1, 0, started, finished), 1, false, true, 0},
		{"exited 3", exitedCtr("app", 2, 3, started, finished), 2, false, true, 3},
		{"exited 137", exitedCtr("app", 0, 137, started, finished), 0, false, true, 137},
		{"start error", startErrCtr("app", 5, "boom"), 5, false, true, 128},
		{"unknown state", ctrStatus("app", 0, ctrd.StateUnknown), 0, false, false, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := &tracked{name: "app", kind: ctrd.KindApp, current: tc.current}
			if got := r.attempt(); got != tc.wantAttempt {
				t.Errorf("attempt() = %d, want %d", got, tc.wantAttempt)
			}
			if got := r.running(); got != tc.wantRunning {
				t.Errorf("running() = %v, want %v", got, tc.wantRunning)
			}
			exited, code := r.exited()
			if exited != tc.wantExited || code != tc.wantCode {
				t.Errorf("exited() = %v, %d, want %v, %d", exited, code, tc.wantExited, tc.wantCode)
			}
		})
	}
}

func TestRestartDelayLabel(t *testing.T) {
	for _, tc := range []struct {
		labels map[string]string
		want   time.Duration
		ok     bool
	}{
		{nil, 0, false},
		{map[string]string{}, 0, false},
		{map[string]string{ctrd.LabelRestartDelay: "0s"}, 0, true},
		{map[string]string{ctrd.LabelRestartDelay: "10s"}, 10 * time.Second, true},
		{map[string]string{ctrd.LabelRestartDelay: "5m0s"}, 5 * time.Minute, true},
		{map[string]string{ctrd.LabelRestartDelay: "soon"}, 0, false},
	} {
		d, ok := restartDelay(tc.labels)
		if d != tc.want || ok != tc.ok {
			t.Errorf("restartDelay(%v) = %v, %v, want %v, %v", tc.labels, d, ok, tc.want, tc.ok)
		}
	}
}
