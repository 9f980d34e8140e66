package provider

import (
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
)

const testNodeMemory = 10_000_000_000 // 10 GB, for round numbers

func memContainer(request int64) *corev1.Container {
	c := &corev1.Container{Name: "app"}
	if request > 0 {
		c.Resources.Requests = corev1.ResourceList{corev1.ResourceMemory: *resource.NewQuantity(request, resource.DecimalSI)}
	}
	return c
}

func qosPod(class corev1.PodQOSClass) *corev1.Pod {
	return &corev1.Pod{Status: corev1.PodStatus{QOSClass: class}}
}

// The kubelet's GetContainerOOMScoreAdjust (pkg/kubelet/qos/policy.go).
func TestOOMScoreAdj(t *testing.T) {
	cpuOnly := &corev1.Container{Name: "app", Resources: corev1.ResourceRequirements{
		Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("100m")},
	}}
	for _, tc := range []struct {
		name  string
		class corev1.PodQOSClass
		c     *corev1.Container
		node  int64
		want  int
	}{
		{"guaranteed", corev1.PodQOSGuaranteed, memContainer(1_000_000_000), testNodeMemory, -997},
		{"guaranteed, whole node", corev1.PodQOSGuaranteed, memContainer(testNodeMemory), testNodeMemory, -997},
		{"best effort", corev1.PodQOSBestEffort, memContainer(0), testNodeMemory, 1000},
		{"burstable, no memory request", corev1.PodQOSBurstable, cpuOnly, testNodeMemory, 999},
		{"burstable, 1 byte: 1000 is best effort's, so 999", corev1.PodQOSBurstable, memContainer(1), testNodeMemory, 999},
		{"burstable, 10%", corev1.PodQOSBurstable, memContainer(1_000_000_000), testNodeMemory, 900},
		{"burstable, 50%", corev1.PodQOSBurstable, memContainer(5_000_000_000), testNodeMemory, 500},
		{"burstable, 99.7%", corev1.PodQOSBurstable, memContainer(9_970_000_000), testNodeMemory, 3},
		// Floor: 1000 + guaranteedOOMScoreAdj = 3, above any guaranteed process.
		{"burstable, 99.8%", corev1.PodQOSBurstable, memContainer(9_980_000_000), testNodeMemory, 3},
		{"burstable, whole node", corev1.PodQOSBurstable, memContainer(testNodeMemory), testNodeMemory, 3},
		{"burstable, more than the node", corev1.PodQOSBurstable, memContainer(2 * testNodeMemory), testNodeMemory, 3},
		{"burstable, node memory unknown", corev1.PodQOSBurstable, memContainer(1_000_000_000), 0, 999},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := oomScoreAdj(qosPod(tc.class), tc.c, tc.node); got != tc.want {
				t.Errorf("oomScoreAdj = %d, want %d", got, tc.want)
			}
		})
	}
}

// Burstable containers sit strictly between guaranteed (-997) and best
// effort (1000), and a larger memory request never raises the score.
func TestOOMScoreAdjBurstableRange(t *testing.T) {
	pod := qosPod(corev1.PodQOSBurstable)
	prev := 1000
	for req := int64(0); req <= 12_000_000_000; req += 50_000_000 {
		got := oomScoreAdj(pod, memContainer(req), testNodeMemory)
		if got < 2 || got > 999 {
			t.Errorf("request %d: oomScoreAdj = %d, want within [2, 999]", req, got)
		}
		if got > prev {
			t.Errorf("request %d: oomScoreAdj = %d rose from %d", req, got, prev)
		}
		prev = got
	}
	if prev == 999 {
		t.Errorf("oomScoreAdj never decreased")
	}
}

// The kubelet gives containers of system-node-critical pods the guaranteed
// score whatever their QoS class (types.IsNodeCriticalPod).
func TestOOMScoreAdjNodeCritical(t *testing.T) {
	prio := int32(2000001000)
	pod := qosPod(corev1.PodQOSBurstable)
	pod.Spec.PriorityClassName = "system-node-critical"
	pod.Spec.Priority = &prio
	if got := oomScoreAdj(pod, memContainer(100_000_000), testNodeMemory); got != -997 {
		t.Errorf("oomScoreAdj = %d, want -997", got)
	}
}
