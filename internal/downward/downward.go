// Package downward computes the values of the downward API's resource
// fields, once for both of its users: container environment variables
// (package podenv) and downwardAPI volume files (package volumes). A pod
// thus sees the same numbers in its env and in its files.
package downward

import (
	"fmt"
	"strconv"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
)

// ResourceValue is container c's request or limit named by sel, divided by
// sel's divisor and rounded up, as the kubelet writes it. An unset (or zero)
// cpu, memory or ephemeral-storage limit falls back to the pod-level limit,
// then to the node's allocatable; an unset request is the container's own
// limit, as the API server defaults it, else zero. Hugepages are
// never defaulted. Errors name what in sel is wrong.
func ResourceValue(pod *corev1.Pod, c *corev1.Container, sel *corev1.ResourceFieldSelector, allocatable corev1.ResourceList) (string, error) {
	kind, name, ok := strings.Cut(sel.Resource, ".")
	if !ok || (kind != "limits" && kind != "requests") {
		return "", fmt.Errorf("unsupported container resource: %s", sel.Resource)
	}
	res := corev1.ResourceName(name)
	switch {
	case res == corev1.ResourceCPU, res == corev1.ResourceMemory, res == corev1.ResourceEphemeralStorage:
	case strings.HasPrefix(name, corev1.ResourceHugePagesPrefix):
	default:
		return "", fmt.Errorf("unsupported container resource: %s", sel.Resource)
	}
	divisor := sel.Divisor
	if divisor.IsZero() {
		divisor = resource.MustParse("1")
	}
	if divisor.Sign() < 0 {
		return "", fmt.Errorf("invalid divisor %s", divisor.String())
	}
	var q resource.Quantity
	if kind == "requests" {
		var ok bool
		if q, ok = c.Resources.Requests[res]; !ok {
			q = c.Resources.Limits[res]
		}
	} else {
		q = limit(pod, c, res, allocatable)
	}
	if res == corev1.ResourceCPU {
		return strconv.FormatInt(ceilDiv(q.MilliValue(), divisor.MilliValue()), 10), nil
	}
	return strconv.FormatInt(ceilDiv(q.Value(), divisor.Value()), 10), nil
}

// limit is the container's limit for res: its own, else the pod-level one,
// else the node's allocatable.
func limit(pod *corev1.Pod, c *corev1.Container, res corev1.ResourceName, allocatable corev1.ResourceList) resource.Quantity {
	if q, ok := c.Resources.Limits[res]; ok && !q.IsZero() {
		return q
	}
	if res != corev1.ResourceCPU && res != corev1.ResourceMemory && res != corev1.ResourceEphemeralStorage {
		return resource.Quantity{}
	}
	if pod.Spec.Resources != nil {
		if q, ok := pod.Spec.Resources.Limits[res]; ok && !q.IsZero() {
			return q
		}
	}
	return allocatable[res]
}

// Container is the pod's init or app container called name, or nil.
func Container(pod *corev1.Pod, name string) *corev1.Container {
	for _, list := range [][]corev1.Container{pod.Spec.Containers, pod.Spec.InitContainers} {
		for i := range list {
			if list[i].Name == name {
				return &list[i]
			}
		}
	}
	return nil
}

// ceilDiv divides two non-negative integers rounding up.
func ceilDiv(v, d int64) int64 {
	if d <= 0 {
		d = 1
	}
	if v <= 0 {
		return 0
	}
	return (v-1)/d + 1
}
