package provider

import corev1 "k8s.io/api/core/v1"

// oomScoreAdj is the kubelet's oom_score_adj for a container by the pod's
// QoS class (node-critical pods count as guaranteed): guaranteed pods are killed last, best-effort pods first, and
// burstable containers in between by their share of the node's memory.
func oomScoreAdj(pod *corev1.Pod, c *corev1.Container, nodeMemory int64) int {
	if pod.Spec.PriorityClassName == "system-node-critical" {
		return -997
	}
	switch pod.Status.QOSClass {
	case corev1.PodQOSGuaranteed:
		return -997
	case corev1.PodQOSBestEffort:
		return 1000
	}
	req := c.Resources.Requests.Memory()
	if req.IsZero() || nodeMemory <= 0 {
		return 999
	}
	// Burstable stays strictly between guaranteed (-997) and best-effort (1000).
	adj := 1000 - int(1000*req.Value()/nodeMemory)
	return min(max(adj, 1000-997), 999)
}
