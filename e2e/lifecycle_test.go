//go:build e2e

package e2e

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func TestGracefulAndForcedDeletionLeaveNothing(t *testing.T) {
	ns := testNamespace(t)
	g := createPod(t, ns, podSpec("graceful", busybox, "sh", "-c", "trap 'exit 0' TERM; sleep 3600 & wait"))
	s := createPod(t, ns, podSpec("stubborn", busybox, "sh", "-c", "trap '' TERM; sleep 3600 & wait"))
	waitPod(t, ns, "graceful", 60*time.Second, "Running", isRunningReady)
	waitPod(t, ns, "stubborn", 60*time.Second, "Running", isRunningReady)

	start := time.Now()
	deletePodAndWait(t, ns, "graceful", nil, 20*time.Second)
	if d := time.Since(start); d > 4*time.Second {
		t.Errorf("a pod that exits on SIGTERM took %s to go away", d)
	}
	zero := int64(0)
	deletePodAndWait(t, ns, "stubborn", &zero, 20*time.Second)
	eventually(t, 20*time.Second, "nothing of the deleted pods left on the node", func(context.Context) (bool, error) {
		return controlOK("check-clean", string(g.UID), string(s.UID)), nil
	})
	control(t, "check-clean", string(g.UID), string(s.UID))
}

func TestBadInputGetsKubeletReasons(t *testing.T) {
	ns := testNamespace(t)
	createPod(t, ns, podSpec("healthy", busybox, "sh", "-c", "trap 'exit 0' TERM; sleep 3600 & wait"))
	waitPod(t, ns, "healthy", 60*time.Second, "Running", isRunningReady)
	before := containerStatus(waitPod(t, ns, "healthy", time.Second, "Running", isRunningReady), "main").ContainerID

	missing := podSpec("missing-image", registry+"/does-not-exist:1")
	createPod(t, ns, missing)
	waitPod(t, ns, "missing-image", 60*time.Second, "ErrImagePull or ImagePullBackOff", waitingReasonIn("ErrImagePull", "ImagePullBackOff"))

	never := podSpec("never-pull", registry+"/not-here:2")
	never.Spec.Containers[0].ImagePullPolicy = corev1.PullNever
	createPod(t, ns, never)
	waitPod(t, ns, "never-pull", 60*time.Second, "ErrImageNeverPull", waitingReasonIn("ErrImageNeverPull"))

	invalid := podSpec("invalid-image", "Not A Valid/Image::Name")
	createPod(t, ns, invalid)
	waitPod(t, ns, "invalid-image", 60*time.Second, "InvalidImageName", waitingReasonIn("InvalidImageName"))

	nocmd := podSpec("no-command", busybox, "/no/such/binary")
	createPod(t, ns, nocmd)
	p := waitPod(t, ns, "no-command", 60*time.Second, "RunContainerError or a StartError termination", func(p *corev1.Pod) bool {
		cs := containerStatus(p, "main")
		if cs.State.Waiting != nil && cs.State.Waiting.Reason == "RunContainerError" {
			return true
		}
		return cs.LastTerminationState.Terminated != nil && cs.LastTerminationState.Terminated.Reason == "StartError"
	})
	if cs := containerStatus(p, "main"); !strings.Contains(describeContainers(p)+fmt.Sprint(cs.LastTerminationState.Terminated), "no/such/binary") {
		t.Errorf("status does not name the missing binary: %s %+v", describeContainers(p), cs.LastTerminationState)
	}

	cfg := podSpec("missing-configmap", busybox, "sh", "-c", "sleep 3600")
	cfg.Spec.Containers[0].Env = []corev1.EnvVar{{Name: "X", ValueFrom: &corev1.EnvVarSource{ConfigMapKeyRef: &corev1.ConfigMapKeySelector{
		LocalObjectReference: corev1.LocalObjectReference{Name: "nope"}, Key: "k"}}}}
	createPod(t, ns, cfg)
	waitPod(t, ns, "missing-configmap", 60*time.Second, "CreateContainerConfigError", waitingReasonIn("CreateContainerConfigError"))

	unsupported := podSpec("unsupported-volume", busybox, "sh", "-c", "sleep 3600")
	unsupported.Spec.Volumes = []corev1.Volume{{Name: "data", VolumeSource: corev1.VolumeSource{
		PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSource{ClaimName: "claim"}}}}
	createPod(t, ns, unsupported)
	eventually(t, 60*time.Second, "FailedMount event for the unsupported volume", func(ctx context.Context) (bool, error) {
		list, err := client.CoreV1().Events(ns).List(ctx, metav1.ListOptions{FieldSelector: "involvedObject.name=unsupported-volume,reason=FailedMount"})
		if err != nil {
			return false, err
		}
		return len(list.Items) > 0, nil
	})

	// None of it touched the healthy pod.
	p = waitPod(t, ns, "healthy", time.Second, "still Running", isRunningReady)
	if cs := containerStatus(p, "main"); cs.ContainerID != before || cs.RestartCount != 0 {
		t.Errorf("healthy pod's container changed: %s (restarts %d), was %s", cs.ContainerID, cs.RestartCount, before)
	}
}

func waitingReasonIn(reasons ...string) func(*corev1.Pod) bool {
	return func(p *corev1.Pod) bool {
		cs := containerStatus(p, "main")
		if cs.State.Waiting == nil {
			return false
		}
		for _, r := range reasons {
			if cs.State.Waiting.Reason == r {
				return true
			}
		}
		return false
	}
}

// TestAgentKilledDuringBurst kills the agent with SIGKILL while 20 pods are
// being created, starts it again, and checks that every pod runs, none was
// restarted, and deleting them all leaves nothing behind.
func TestAgentKilledDuringBurst(t *testing.T) {
	ns := testNamespace(t)
	const n = 20
	var wg sync.WaitGroup
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			createPod(t, ns, podSpec(fmt.Sprintf("burst-%02d", i), busybox, "sh", "-c", "trap 'exit 0' TERM; sleep 3600 & wait"))
		}(i)
		if i == n/2 {
			time.Sleep(300 * time.Millisecond)
			control(t, "kill", "vk-containerd")
		}
	}
	wg.Wait()
	start := time.Now()
	control(t, "start", "vk-containerd")
	ids := map[string]string{}
	var uids []string
	for i := 0; i < n; i++ {
		name := fmt.Sprintf("burst-%02d", i)
		p := waitPod(t, ns, name, 150*time.Second, "Running after the agent came back", isRunningReady)
		uids = append(uids, string(p.UID))
		cs := containerStatus(p, "main")
		if cs.RestartCount != 0 {
			t.Errorf("%s: restartCount %d, want 0", name, cs.RestartCount)
		}
		ids[name] = cs.ContainerID
	}
	t.Logf("all %d pods Running %s after the agent came back", n, time.Since(start).Round(time.Millisecond))
	// A second restart adopts the running containers instead of recreating them.
	start = time.Now()
	control(t, "restart", "vk-containerd")
	time.Sleep(3 * time.Second)
	for name, id := range ids {
		p := waitPod(t, ns, name, 30*time.Second, "Running", isRunningReady)
		if cs := containerStatus(p, "main"); cs.ContainerID != id || cs.RestartCount != 0 {
			t.Errorf("%s: container %s (restarts %d) after agent restart, was %s", name, cs.ContainerID, cs.RestartCount, id)
		}
	}
	t.Logf("containers adopted after a second restart, checked in %s", time.Since(start).Round(time.Millisecond))
	start = time.Now()
	zero := int64(0)
	for name := range ids {
		deletePodAndWait(t, ns, name, &zero, 30*time.Second)
	}
	eventually(t, 30*time.Second, "nothing of the burst's pods left on the node", func(context.Context) (bool, error) {
		return controlOK(append([]string{"check-clean"}, uids...)...), nil
	})
	t.Logf("deleted and cleaned in %s", time.Since(start).Round(time.Millisecond))
}

// TestPodDeletedWhileAgentDown deletes a pod while the agent is stopped; when
// the agent returns it tears the pod's containers and sandbox down.
func TestPodDeletedWhileAgentDown(t *testing.T) {
	ns := testNamespace(t)
	orphan := createPod(t, ns, podSpec("orphan", busybox, "sh", "-c", "trap 'exit 0' TERM; sleep 3600 & wait"))
	waitPod(t, ns, "orphan", 60*time.Second, "Running", isRunningReady)
	control(t, "stop", "vk-containerd")
	zero := int64(0)
	deletePodAndWait(t, ns, "orphan", &zero, 30*time.Second)
	control(t, "start", "vk-containerd")
	eventually(t, 30*time.Second, "orphan's containers and sandbox removed", func(context.Context) (bool, error) {
		return controlOK("check-clean", string(orphan.UID)), nil
	})
}
