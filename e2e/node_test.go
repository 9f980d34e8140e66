//go:build e2e

package e2e

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func getNode(ctx context.Context, t *testing.T) *corev1.Node {
	t.Helper()
	n, err := client.CoreV1().Nodes().Get(ctx, nodeName, metav1.GetOptions{})
	if err != nil {
		t.Fatalf("get node %s: %v", nodeName, err)
	}
	return n
}

func readyCondition(n *corev1.Node) corev1.NodeCondition {
	for _, c := range n.Status.Conditions {
		if c.Type == corev1.NodeReady {
			return c
		}
	}
	return corev1.NodeCondition{}
}

func nodeReadyIs(status corev1.ConditionStatus) func(ctx context.Context) (bool, error) {
	return func(ctx context.Context) (bool, error) {
		n, err := client.CoreV1().Nodes().Get(ctx, nodeName, metav1.GetOptions{})
		if err != nil {
			return false, err
		}
		c := readyCondition(n)
		return c.Status == status, fmt.Errorf("Ready=%s (%s: %s)", c.Status, c.Reason, c.Message)
	}
}

func TestNodeIsReadyWithHostInfo(t *testing.T) {
	ctx := context.Background()
	eventually(t, 30*time.Second, "node Ready", nodeReadyIs(corev1.ConditionTrue))
	n := getNode(ctx, t)

	info := n.Status.NodeInfo
	if !strings.HasPrefix(info.ContainerRuntimeVersion, "containerd://2.") {
		t.Errorf("containerRuntimeVersion = %q, want containerd://2.x", info.ContainerRuntimeVersion)
	}
	if info.KubeletVersion == "" || info.KernelVersion == "" || info.OSImage == "" || info.OSImage == "Unknown" {
		t.Errorf("nodeInfo incomplete: %+v", info)
	}
	if info.OperatingSystem != "linux" || info.Architecture == "" {
		t.Errorf("nodeInfo os/arch = %q/%q", info.OperatingSystem, info.Architecture)
	}
	if got := n.Labels[corev1.LabelOSStable]; got != "linux" {
		t.Errorf("label %s = %q, want linux", corev1.LabelOSStable, got)
	}
	if got := n.Labels[corev1.LabelHostname]; got != nodeName {
		t.Errorf("label %s = %q, want %s", corev1.LabelHostname, got, nodeName)
	}
	if p, want := n.Status.DaemonEndpoints.KubeletEndpoint.Port, envOr("VKC_E2E_KUBELET_PORT", "10250"); strconv.Itoa(int(p)) != want {
		t.Errorf("daemonEndpoints.kubeletEndpoint.port = %d, want %s", p, want)
	}
	var internal string
	for _, a := range n.Status.Addresses {
		if a.Type == corev1.NodeInternalIP {
			internal = a.Address
		}
	}
	if internal == "" {
		t.Errorf("no InternalIP in %v", n.Status.Addresses)
	}
	for _, r := range []corev1.ResourceName{corev1.ResourceCPU, corev1.ResourceMemory, corev1.ResourceEphemeralStorage, corev1.ResourcePods} {
		q, ok := n.Status.Capacity[r]
		if !ok || q.Sign() <= 0 {
			t.Errorf("capacity %s = %v, want > 0", r, q.String())
		}
		if a := n.Status.Allocatable[r]; a.Cmp(q) > 0 {
			t.Errorf("allocatable %s = %s exceeds capacity %s", r, a.String(), q.String())
		}
	}
	if pods := n.Status.Capacity[corev1.ResourcePods]; pods.Value() != 110 {
		t.Errorf("pods capacity = %d, want 110 (--max-pods default)", pods.Value())
	}
	if len(n.Spec.Taints) != 0 {
		t.Errorf("node has taints %v, want none by default", n.Spec.Taints)
	}
}

func TestNodeHeartbeatsThroughLease(t *testing.T) {
	ctx := context.Background()
	leases := client.CoordinationV1().Leases(corev1.NamespaceNodeLease)
	first, err := leases.Get(ctx, nodeName, metav1.GetOptions{})
	if err != nil {
		t.Fatalf("lease of node %s: %v", nodeName, err)
	}
	if first.Spec.HolderIdentity == nil || *first.Spec.HolderIdentity != nodeName {
		t.Fatalf("lease holder = %v, want %s", first.Spec.HolderIdentity, nodeName)
	}
	if len(first.OwnerReferences) != 1 || first.OwnerReferences[0].Kind != "Node" {
		t.Errorf("lease owner = %v, want the Node", first.OwnerReferences)
	}
	eventually(t, 30*time.Second, "lease renewal", func(ctx context.Context) (bool, error) {
		l, err := leases.Get(ctx, nodeName, metav1.GetOptions{})
		if err != nil {
			return false, err
		}
		return l.Spec.RenewTime.After(first.Spec.RenewTime.Time), nil
	})
}

func TestNodeNotReadyWhileContainerdIsDown(t *testing.T) {
	eventually(t, 30*time.Second, "node Ready", nodeReadyIs(corev1.ConditionTrue))
	control(t, "stop", "containerd")
	started := false
	defer func() {
		if !started {
			control(t, "start", "containerd")
		}
	}()
	eventually(t, 30*time.Second, "node NotReady", nodeReadyIs(corev1.ConditionFalse))
	c := readyCondition(getNode(context.Background(), t))
	if !strings.Contains(c.Message, "container runtime is down") {
		t.Errorf("NotReady message = %q, want it to say the container runtime is down", c.Message)
	}
	control(t, "start", "containerd")
	started = true
	eventually(t, 30*time.Second, "node Ready again", nodeReadyIs(corev1.ConditionTrue))
}

func TestAgentRestartKeepsNodeObject(t *testing.T) {
	ctx := context.Background()
	eventually(t, 30*time.Second, "node Ready", nodeReadyIs(corev1.ConditionTrue))
	before := getNode(ctx, t)
	control(t, "restart", "vk-containerd")
	restarted := time.Now()
	// The new process proves itself by renewing the node's lease.
	eventually(t, 30*time.Second, "lease renewed by the restarted agent", func(ctx context.Context) (bool, error) {
		l, err := client.CoordinationV1().Leases(corev1.NamespaceNodeLease).Get(ctx, nodeName, metav1.GetOptions{})
		if err != nil {
			return false, err
		}
		return l.Spec.RenewTime != nil && l.Spec.RenewTime.After(restarted), nil
	})
	eventually(t, 30*time.Second, "node Ready after restart", nodeReadyIs(corev1.ConditionTrue))
	after := getNode(ctx, t)
	if after.UID != before.UID {
		t.Fatalf("node UID changed across restart: %s -> %s", before.UID, after.UID)
	}
	if after.CreationTimestamp != before.CreationTimestamp {
		t.Fatalf("node was re-created across restart")
	}
}
