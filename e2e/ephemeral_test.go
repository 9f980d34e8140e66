//go:build e2e

package e2e

import (
	"context"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// TestEphemeralContainer: a debugging container added to a running pod runs
// once, sees the target container's processes, and answers exec and logs.
func TestEphemeralContainer(t *testing.T) {
	ns := testNamespace(t)
	createPod(t, ns, podSpec("debugged", busybox, "sh", "-c", "exec sleep 3601"))
	p := waitPod(t, ns, "debugged", 60*time.Second, "Running", isRunningReady)
	p.Spec.EphemeralContainers = append(p.Spec.EphemeralContainers, corev1.EphemeralContainer{
		TargetContainerName: "main",
		EphemeralContainerCommon: corev1.EphemeralContainerCommon{
			Name: "debugger", Image: busybox, ImagePullPolicy: corev1.PullIfNotPresent,
			Command:                  []string{"sh", "-c", "ps; sleep 3600"},
			TerminationMessagePolicy: corev1.TerminationMessageReadFile,
		},
	})
	if _, err := client.CoreV1().Pods(ns).UpdateEphemeralContainers(context.Background(), "debugged", p, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	p = waitPod(t, ns, "debugged", 60*time.Second, "the ephemeral container running", func(p *corev1.Pod) bool {
		for _, cs := range p.Status.EphemeralContainerStatuses {
			if cs.Name == "debugger" && cs.State.Running != nil {
				return true
			}
		}
		return false
	})
	var logs string
	eventually(t, 20*time.Second, "the debugger's ps output", func(context.Context) (bool, error) {
		logs, _, _ = kubectl(t, "", "-n", ns, "logs", "debugged", "-c", "debugger")
		return strings.Contains(logs, "sleep 3601"), nil
	})
	if out, _, code := kubectl(t, "", "-n", ns, "exec", "debugged", "-c", "debugger", "--", "echo", "hi"); code != 0 || out != "hi\n" {
		t.Errorf("exec in the ephemeral container: %q exit %d", out, code)
	}
	if !isRunningReady(p) {
		t.Error("the pod is not Ready with an ephemeral container")
	}
}
