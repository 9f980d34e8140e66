//go:build e2e

package e2e

import (
	"context"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func diskPressureIs(status corev1.ConditionStatus) func(ctx context.Context) (bool, error) {
	return func(ctx context.Context) (bool, error) {
		n, err := client.CoreV1().Nodes().Get(ctx, nodeName, metav1.GetOptions{})
		if err != nil {
			return false, err
		}
		for _, c := range n.Status.Conditions {
			if c.Type == corev1.NodeDiskPressure {
				return c.Status == status, fmt.Errorf("DiskPressure=%s (%s)", c.Status, c.Reason)
			}
		}
		return false, fmt.Errorf("no DiskPressure condition")
	}
}

// logLine is what the writer pod prints, or a record of it that the full
// disk cut short.
var logLine = regexp.MustCompile(`^(l(i(n(e( [0-9]*)?)?)?)?)?$`)

// lastLogLine reads the pod's log through the API and returns the number of
// its last line; every line must be one the pod wrote.
func lastLogLine(t *testing.T, ns, name string) int {
	t.Helper()
	raw, err := client.CoreV1().Pods(ns).GetLogs(name, &corev1.PodLogOptions{}).DoRaw(context.Background())
	if err != nil {
		t.Fatalf("logs of %s: %v", name, err)
	}
	lines := strings.Split(strings.TrimSuffix(string(raw), "\n"), "\n")
	for i, l := range lines {
		if !logLine.MatchString(l) {
			t.Fatalf("log line %d of %s is %q: not what the pod wrote", i, name, l)
		}
	}
	n, err := strconv.Atoi(strings.TrimPrefix(lines[len(lines)-1], "line "))
	if err != nil {
		t.Fatalf("last log line of %s is %q", name, lines[len(lines)-1])
	}
	return n
}

// TestFaultRootDiskFull fills the agent's root filesystem to the last block
// under a pod that writes its log, then frees it. The node reports
// DiskPressure and refuses new pods with the kubelet's reason; the running
// pod keeps running and logging; when space returns the condition clears
// and new pods start.
func TestFaultRootDiskFull(t *testing.T) {
	ns := faultNamespace(t, "the full root disk")
	createPod(t, ns, podSpec("writer", busybox, "sh", "-c", "i=0; while true; do echo line $i; i=$((i+1)); sleep 0.1; done"))
	waitPod(t, ns, "writer", 90*time.Second, "Running", isRunningReady)
	before := runningIDs(t, ns, []string{"writer"})

	filled := time.Now()
	t.Logf("filled: %s", strings.TrimSpace(controlOutput(t, "fill-root")))
	freed := false
	defer func() {
		if !freed {
			controlOutput(t, "free-root")
		}
	}()
	eventually(t, 30*time.Second, "DiskPressure True", diskPressureIs(corev1.ConditionTrue))
	pressureAfter := time.Since(filled)

	refused := podSpec("refused", busybox, "sh", "-c", "sleep 3600")
	createPod(t, ns, refused)
	p := waitPod(t, ns, "refused", 30*time.Second, "Failed", phaseIs(corev1.PodFailed))
	if p.Status.Reason != "Evicted" || p.Status.Message != "The node had condition: [DiskPressure]. " {
		t.Errorf("refused pod: reason %q message %q, want Evicted and the kubelet's message", p.Status.Reason, p.Status.Message)
	}
	eventually(t, 30*time.Second, "an Evicted event on the refused pod", func(ctx context.Context) (bool, error) {
		list, err := client.CoreV1().Events(ns).List(ctx, metav1.ListOptions{FieldSelector: "involvedObject.name=refused,reason=Evicted"})
		return err == nil && len(list.Items) > 0, err
	})
	time.Sleep(3 * time.Second) // the writer goes on writing into a full disk

	controlOutput(t, "free-root")
	freed = true
	back := time.Now()
	eventually(t, 60*time.Second, "DiskPressure False", diskPressureIs(corev1.ConditionFalse))
	clearedAfter := time.Since(back)
	// The writer never blocked on its full log: it goes on, and its new lines reach the log.
	first := lastLogLine(t, ns, "writer")
	time.Sleep(2 * time.Second)
	if next := lastLogLine(t, ns, "writer"); next <= first {
		t.Errorf("the writer's log stopped at line %d after the disk was freed", first)
	}
	changed := compareIDs(t, before, runningIDs(t, ns, []string{"writer"}))
	// The taint the controller-manager put on the pressured node must be gone
	// before a new pod is admitted anywhere else in the suite.
	eventually(t, 60*time.Second, "no disk-pressure taint", func(ctx context.Context) (bool, error) {
		n, err := client.CoreV1().Nodes().Get(ctx, nodeName, metav1.GetOptions{})
		if err != nil {
			return false, err
		}
		for _, taint := range n.Spec.Taints {
			if taint.Key == corev1.TaintNodeDiskPressure {
				return false, nil
			}
		}
		return true, nil
	})
	createPod(t, ns, sleeper("after"))
	waitPod(t, ns, "after", 60*time.Second, "Running", isRunningReady)
	figure(t, "root disk full: DiskPressure after %s, a new pod refused with Evicted; freed: cleared %s after (transition period 10 s); %d running containers changed, the log goes on",
		pressureAfter.Round(100*time.Millisecond), clearedAfter.Round(100*time.Millisecond), changed)
}

// TestFaultDeletedMidway deletes pods while their image is pulled, while
// their sandbox is being built, and while their preStop hook runs.
func TestFaultDeletedMidway(t *testing.T) {
	ns := faultNamespace(t, "deletions midway")
	var uids []string

	// While pulling: the slow registry sends the image's fresh layer at 16 KiB/s.
	slow := podSpec("pulling", slowRegistry+"/busybox:fresh", "sleep", "3600")
	slow.Spec.Containers[0].ImagePullPolicy = corev1.PullAlways
	pod := createPod(t, ns, slow)
	uids = append(uids, string(pod.UID))
	eventually(t, 60*time.Second, "the pull under way", func(ctx context.Context) (bool, error) {
		list, err := client.CoreV1().Events(ns).List(ctx, metav1.ListOptions{FieldSelector: "involvedObject.name=pulling,reason=Pulling"})
		return err == nil && len(list.Items) > 0, err
	})
	time.Sleep(2 * time.Second)
	if list, err := client.CoreV1().Events(ns).List(context.Background(), metav1.ListOptions{FieldSelector: "involvedObject.name=pulling,reason=Pulled"}); err != nil || len(list.Items) > 0 {
		t.Fatalf("the slow pull ended before the deletion (%v): the test deletes nothing mid-pull", err)
	}
	start := time.Now()
	deletePodAndWait(t, ns, "pulling", nil, 30*time.Second)
	pullDeletion := time.Since(start)

	// While the sandbox is built: deletions at every 25 ms of the first 400.
	const sweep = 17
	for i := 0; i < sweep; i++ {
		name := fmt.Sprintf("early-%02d", i)
		p := createPod(t, ns, sleeper(name))
		uids = append(uids, string(p.UID))
		time.Sleep(time.Duration(i) * 25 * time.Millisecond)
		one := int64(1)
		deletePodAndWait(t, ns, name, &one, 60*time.Second)
	}

	// While preStop runs: a graceful deletion, then a forced one during the hook.
	hooked := sleeper("prestop")
	grace := int64(60)
	hooked.Spec.TerminationGracePeriodSeconds = &grace
	hooked.Spec.Containers[0].Lifecycle = &corev1.Lifecycle{PreStop: &corev1.LifecycleHandler{
		Exec: &corev1.ExecAction{Command: []string{"sh", "-c", "sleep 50"}}}}
	p := createPod(t, ns, hooked)
	uids = append(uids, string(p.UID))
	waitPod(t, ns, "prestop", 60*time.Second, "Running", isRunningReady)
	if err := client.CoreV1().Pods(ns).Delete(context.Background(), "prestop", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	time.Sleep(3 * time.Second) // the hook runs
	start = time.Now()
	zero := int64(0)
	deletePodAndWait(t, ns, "prestop", &zero, 30*time.Second)

	eventually(t, 60*time.Second, "nothing of the deleted pods left", func(context.Context) (bool, error) {
		return controlOK(append([]string{"check-clean"}, uids...)...), nil
	})
	hookCleaned := time.Since(start)
	control(t, append([]string{"check-clean"}, uids...)...)
	figure(t, "deleted midway: during a pull (gone in %s), %d during sandbox setup (0 to 400 ms after create), during preStop (forced; clean in %s); 0 of %d left behind",
		pullDeletion.Round(100*time.Millisecond), sweep, hookCleaned.Round(100*time.Millisecond), len(uids))
}
