//go:build e2e

package e2e

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// churnKind is one sort of pod the churn creates: its spec and the state it
// must reach before the churn deletes it.
type churnKind struct {
	name    string
	spec    func(name string) *corev1.Pod
	reached func(*corev1.Pod) bool
}

var churnKinds = []churnKind{
	{"succeeds", func(name string) *corev1.Pod {
		p := podSpec(name, busybox, "sh", "-c", "sleep 1")
		p.Spec.RestartPolicy = corev1.RestartPolicyNever
		return p
	}, phaseIs(corev1.PodSucceeded)},
	{"fails", func(name string) *corev1.Pod {
		p := podSpec(name, busybox, "sh", "-c", "sleep 1; exit 3")
		p.Spec.RestartPolicy = corev1.RestartPolicyNever
		return p
	}, func(p *corev1.Pod) bool {
		t := containerStatus(p, "main").State.Terminated
		return p.Status.Phase == corev1.PodFailed && t != nil && t.ExitCode == 3
	}},
	{"crashloops", func(name string) *corev1.Pod {
		return podSpec(name, busybox, "sh", "-c", "sleep 0.5; exit 1")
	}, func(p *corev1.Pod) bool { return containerStatus(p, "main").RestartCount >= 1 }},
	{"init", func(name string) *corev1.Pod {
		p := sleeper(name)
		p.Spec.InitContainers = []corev1.Container{{Name: "init", Image: busybox, Command: []string{"sh", "-c", "sleep 0.5"},
			ImagePullPolicy: corev1.PullIfNotPresent}}
		return p
	}, isRunningReady},
	{"runs", sleeper, isRunningReady},
}

// TestFaultAgentKilledDuringChurn creates and deletes 100 pods of every kind
// (ending, failing, crash-looping, with init containers, running) from 8
// loops, kills the agent with SIGKILL in the middle and starts it again.
// Every pod must reach its state and be deleted; ten pods that run
// throughout must keep their containers; nothing may be left on the host.
func TestFaultAgentKilledDuringChurn(t *testing.T) {
	ns := faultNamespace(t, "the agent's kill during churn")
	const steady, total, loops = 10, 100, 8
	var steadyNames []string
	for i := 0; i < steady; i++ {
		name := fmt.Sprintf("steady-%02d", i)
		createPod(t, ns, sleeper(name))
		steadyNames = append(steadyNames, name)
	}
	for _, name := range steadyNames {
		waitPod(t, ns, name, 90*time.Second, "Running", isRunningReady)
	}
	before := runningIDs(t, ns, steadyNames)

	var created, lost atomic.Int32
	killed := make(chan time.Time, 1)
	var wg sync.WaitGroup
	start := time.Now()
	for l := 0; l < loops; l++ {
		wg.Add(1)
		go func(l int) {
			defer wg.Done()
			for {
				i := int(created.Add(1)) - 1
				if i >= total {
					return
				}
				if i == total/3 {
					// A third of the way in, with pods of every kind in every state.
					time.Sleep(time.Second)
					if !controlOK("kill", "vk-containerd") {
						t.Error("could not kill the agent")
					}
					killed <- time.Now()
				}
				kind := churnKinds[i%len(churnKinds)]
				if err := churnOne(ns, fmt.Sprintf("churn-%03d-%s", i, kind.name), kind); err != nil {
					lost.Add(1)
					t.Errorf("lost: %v", err)
				}
			}
		}(l)
	}
	killedAt := <-killed
	time.Sleep(3 * time.Second) // pods are created and deleted while no agent runs
	control(t, "start", "vk-containerd")
	downFor := time.Since(killedAt)
	wg.Wait()
	figure(t, "churn: %d pods of %d kinds created and deleted by %d loops in %s; the agent killed (SIGKILL) at pod %d, Ready again %s later; %d pods lost",
		total, len(churnKinds), loops, time.Since(start).Round(time.Second), total/3, downFor.Round(100*time.Millisecond), lost.Load())

	after := runningIDs(t, ns, steadyNames)
	restartedContainers := compareIDs(t, before, after)
	figure(t, "churn: %d of %d running containers restarted or replaced across the kill", restartedContainers, len(before))
	zero := int64(0)
	for _, name := range steadyNames {
		if err := client.CoreV1().Pods(ns).Delete(context.Background(), name, metav1.DeleteOptions{GracePeriodSeconds: &zero}); err != nil {
			t.Errorf("delete %s: %v", name, err)
		}
	}
}

// churnOne creates a pod, waits for it to reach its kind's state, deletes
// it and waits until it is gone. Any step that does not happen in time is
// a lost pod.
func churnOne(ns, name string, kind churnKind) error {
	ctx := context.Background()
	pod := kind.spec(name)
	one := int64(1)
	pod.Spec.TerminationGracePeriodSeconds = &one
	if _, err := client.CoreV1().Pods(ns).Create(ctx, pod, metav1.CreateOptions{}); err != nil {
		return fmt.Errorf("create %s: %w", name, err)
	}
	var last *corev1.Pod
	if err := poll(2*time.Minute, func() (bool, error) {
		p, err := client.CoreV1().Pods(ns).Get(ctx, name, metav1.GetOptions{})
		last = p
		return err == nil && kind.reached(p), err
	}); err != nil {
		return fmt.Errorf("%s never %s: phase %s, %s", name, kind.name, last.Status.Phase, describeContainers(last))
	}
	time.Sleep(time.Second) // it stays in that state a little: terminal pods meet the kill too
	if err := client.CoreV1().Pods(ns).Delete(ctx, name, metav1.DeleteOptions{}); err != nil {
		return fmt.Errorf("delete %s: %w", name, err)
	}
	if err := poll(2*time.Minute, func() (bool, error) {
		_, err := client.CoreV1().Pods(ns).Get(ctx, name, metav1.GetOptions{})
		return apierrors.IsNotFound(err), nil
	}); err != nil {
		return fmt.Errorf("%s: deletion never completed", name)
	}
	return nil
}

// poll calls cond every 250 ms until it returns true or timeout passes.
func poll(timeout time.Duration, cond func() (bool, error)) error {
	deadline := time.Now().Add(timeout)
	for {
		ok, err := cond()
		if ok {
			return nil
		}
		if time.Now().After(deadline) {
			if err == nil {
				err = fmt.Errorf("timed out after %s", timeout)
			}
			return err
		}
		time.Sleep(250 * time.Millisecond)
	}
}

// TestFaultContainerdRestart stops containerd under 20 running pods, three
// of which exit while it is down, and starts it again. The node must go
// NotReady with the reason and come back; the pods that run keep their
// containers; the exits are reported once containerd is back.
func TestFaultContainerdRestart(t *testing.T) {
	ns := faultNamespace(t, "the containerd restart")
	const n, exiters = 20, 3
	var runners []string
	for i := 0; i < n; i++ {
		name := fmt.Sprintf("pod-%02d", i)
		if i < exiters {
			// Exits 15 s after it starts: inside the outage below.
			p := podSpec(name, busybox, "sh", "-c", "sleep 15; exit 7")
			p.Spec.RestartPolicy = corev1.RestartPolicyNever
			createPod(t, ns, p)
			continue
		}
		createPod(t, ns, sleeper(name))
		runners = append(runners, name)
	}
	for i := 0; i < n; i++ {
		waitPod(t, ns, fmt.Sprintf("pod-%02d", i), 90*time.Second, "Running", isRunningReady)
	}
	before := runningIDs(t, ns, runners)
	var lastStart time.Time
	for i := 0; i < exiters; i++ {
		p := waitPod(t, ns, fmt.Sprintf("pod-%02d", i), time.Second, "Running", isRunningReady)
		s := containerStatus(p, "main").State.Running.StartedAt.Time
		t.Logf("%s started at %s", p.Name, s.Format(time.RFC3339Nano))
		if s.After(lastStart) {
			lastStart = s
		}
	}

	stopped := time.Now()
	control(t, "stop", "containerd")
	restartedOK := false
	defer func() {
		if !restartedOK {
			control(t, "start", "containerd")
		}
	}()
	eventually(t, 30*time.Second, "node NotReady", nodeReadyIs(corev1.ConditionFalse))
	notReadyAfter := time.Since(stopped)
	if c := readyCondition(getNode(context.Background(), t)); !strings.Contains(c.Message, "container runtime is down") {
		t.Errorf("NotReady message = %q, want it to say the container runtime is down", c.Message)
	}
	// Stay down until the exiters have exited (15 s after their start, and a margin).
	if wait := time.Until(lastStart.Add(18 * time.Second)); wait > 0 {
		time.Sleep(wait)
	}
	outage := time.Since(stopped)
	t.Logf("containerd down from %s to %s", stopped.Format(time.RFC3339Nano), time.Now().Format(time.RFC3339Nano))
	control(t, "start", "containerd")
	restartedOK = true
	back := time.Now()
	eventually(t, 30*time.Second, "node Ready again", nodeReadyIs(corev1.ConditionTrue))
	readyAfter := time.Since(back)
	var finishedLate time.Duration
	for i := 0; i < exiters; i++ {
		p := waitPod(t, ns, fmt.Sprintf("pod-%02d", i), 60*time.Second, "Failed with exit code 7", func(p *corev1.Pod) bool {
			t := containerStatus(p, "main").State.Terminated
			return p.Status.Phase == corev1.PodFailed && t != nil && t.ExitCode == 7
		})
		// containerd's shim dates an exit that happened while containerd was
		// down when it handles it, after containerd is back; it is no earlier.
		if fin := containerStatus(p, "main").State.Terminated.FinishedAt.Time; fin.Before(lastStart.Add(15 * time.Second).Truncate(time.Second)) {
			t.Errorf("%s: finishedAt %s is before the exit (started %s, exits 15 s later)", p.Name, fin, lastStart)
		} else if d := fin.Sub(back); d > finishedLate {
			finishedLate = d
		}
	}
	exitsAfter := time.Since(back)
	changed := compareIDs(t, before, runningIDs(t, ns, runners))
	figure(t, "containerd restart: down %s under %d pods; NotReady after %s, Ready %s after its start; %d exits during the outage reported %s after it (finishedAt, as containerd dates them, up to %s after its start); %d of %d running containers changed",
		outage.Round(100*time.Millisecond), n, notReadyAfter.Round(100*time.Millisecond), readyAfter.Round(100*time.Millisecond),
		exiters, exitsAfter.Round(100*time.Millisecond), finishedLate.Round(time.Second), changed, len(before))
}

// TestFaultAPIServerFrozen stops the API server (SIGSTOP) for 60 s: its
// connections hang rather than close. Pods keep running; afterwards the
// lease is renewed, a pod that ended during the outage is reported, and
// deletions complete.
func TestFaultAPIServerFrozen(t *testing.T) {
	ns := faultNamespace(t, "the API server outage")
	var runners []string
	for i := 0; i < 5; i++ {
		name := fmt.Sprintf("runs-%d", i)
		createPod(t, ns, sleeper(name))
		runners = append(runners, name)
	}
	ender := podSpec("ends-in-outage", busybox, "sh", "-c", "sleep 20")
	ender.Spec.RestartPolicy = corev1.RestartPolicyNever
	createPod(t, ns, ender)
	for _, name := range append(runners, "ends-in-outage") {
		waitPod(t, ns, name, 90*time.Second, "Running", isRunningReady)
	}
	before := runningIDs(t, ns, runners)

	const outage = 60 * time.Second
	control(t, "freeze", "kube-apiserver")
	thawed := false
	defer func() {
		if !thawed {
			control(t, "thaw", "kube-apiserver")
		}
	}()
	frozen := time.Now()
	time.Sleep(outage)
	control(t, "thaw", "kube-apiserver")
	thawed = true
	back := time.Now()

	eventually(t, 60*time.Second, "the node's lease renewed after the outage", func(ctx context.Context) (bool, error) {
		l, err := client.CoordinationV1().Leases(corev1.NamespaceNodeLease).Get(ctx, nodeName, metav1.GetOptions{})
		if err != nil {
			return false, err
		}
		return l.Spec.RenewTime != nil && l.Spec.RenewTime.After(back), nil
	})
	leaseAfter := time.Since(back)
	p := waitPod(t, ns, "ends-in-outage", 60*time.Second, "Succeeded", phaseIs(corev1.PodSucceeded))
	statusAfter := time.Since(back)
	if fin := containerStatus(p, "main").State.Terminated.FinishedAt.Time; fin.Before(frozen) || fin.After(back) {
		t.Errorf("ends-in-outage finished at %s, not inside the outage (%s to %s)", fin, frozen, back)
	}
	changed := compareIDs(t, before, runningIDs(t, ns, runners))
	eventually(t, 60*time.Second, "node Ready after the outage", nodeReadyIs(corev1.ConditionTrue))

	deleteStart := time.Now()
	for _, name := range runners {
		deletePodAndWait(t, ns, name, nil, 60*time.Second)
	}
	figure(t, "API server frozen %s: lease renewed %s after, the status of a pod that ended in the outage reached the API %s after, %d of %d running containers changed, %d deletions completed in %s",
		outage, leaseAfter.Round(100*time.Millisecond), statusAfter.Round(100*time.Millisecond), changed, len(before),
		len(runners), time.Since(deleteStart).Round(100*time.Millisecond))
}
