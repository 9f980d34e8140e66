package podenv

import (
	"strconv"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/util/validation"
)

// fieldRef returns the value of a downward API field of the pod.
func (r *resolver) fieldRef(fs *corev1.ObjectFieldSelector) (string, error) {
	if fs.APIVersion != "" && fs.APIVersion != "v1" {
		return "", configErrorf(nil, "unsupported pod version: %s", fs.APIVersion)
	}
	pod := r.pod
	path := fs.FieldPath

	if base, key, ok := splitSubscript(path); ok {
		switch base {
		case "metadata.labels":
			if errs := validation.IsQualifiedName(key); len(errs) != 0 {
				return "", configErrorf(nil, "invalid key subscript in %s: %s", path, strings.Join(errs, ";"))
			}
			return pod.Labels[key], nil
		case "metadata.annotations":
			if errs := validation.IsQualifiedName(strings.ToLower(key)); len(errs) != 0 {
				return "", configErrorf(nil, "invalid key subscript in %s: %s", path, strings.Join(errs, ";"))
			}
			return pod.Annotations[key], nil
		}
		return "", configErrorf(nil, "field label does not support subscript: %s", path)
	}

	switch path {
	case "metadata.name":
		return pod.Name, nil
	case "metadata.namespace":
		return pod.Namespace, nil
	case "metadata.uid":
		return string(pod.UID), nil
	case "spec.nodeName", "spec.host":
		if pod.Spec.NodeName != "" {
			return pod.Spec.NodeName, nil
		}
		return r.facts.NodeName, nil
	case "spec.serviceAccountName":
		return pod.Spec.ServiceAccountName, nil
	case "status.podIP":
		if ips := r.podIPs(); len(ips) > 0 {
			return ips[0], nil
		}
		return "", nil
	case "status.podIPs":
		return strings.Join(r.podIPs(), ","), nil
	case "status.hostIP":
		if ips := r.hostIPs(); len(ips) > 0 {
			return ips[0], nil
		}
		return "", nil
	case "status.hostIPs":
		return strings.Join(r.hostIPs(), ","), nil
	}
	return "", configErrorf(nil, "unsupported fieldPath: %s", path)
}

// splitSubscript splits "metadata.labels['key']" into its path and key.
func splitSubscript(path string) (base, key string, ok bool) {
	if !strings.HasSuffix(path, "']") {
		return path, "", false
	}
	base, key, ok = strings.Cut(strings.TrimSuffix(path, "']"), "['")
	if !ok || base == "" {
		return path, "", false
	}
	return base, key, true
}

func (r *resolver) podIPs() []string {
	var status []string
	for _, ip := range r.pod.Status.PodIPs {
		status = append(status, ip.IP)
	}
	return firstKnownIPs(r.facts.PodIPs, status, r.pod.Status.PodIP)
}

func (r *resolver) hostIPs() []string {
	var status []string
	for _, ip := range r.pod.Status.HostIPs {
		status = append(status, ip.IP)
	}
	return firstKnownIPs(r.facts.HostIPs, status, r.pod.Status.HostIP)
}

// firstKnownIPs prefers what the node knows, then the status list, then the
// status' single address.
func firstKnownIPs(facts, status []string, single string) []string {
	switch {
	case len(facts) > 0:
		return facts
	case len(status) > 0:
		return status
	case single != "":
		return []string{single}
	}
	return nil
}

// resourceFieldRef returns a container's resource request or limit divided by
// the selector's divisor and rounded up. An unset (or zero) cpu, memory or
// ephemeral-storage limit falls back to the pod-level limit and then to the
// node's allocatable, as the kubelet does.
func (r *resolver) resourceFieldRef(fs *corev1.ResourceFieldSelector) (string, error) {
	ctr := r.ctr
	if fs.ContainerName != "" && fs.ContainerName != ctr.Name {
		ctr = findContainer(r.pod, fs.ContainerName)
		if ctr == nil {
			return "", configErrorf(nil, "container %s not found", fs.ContainerName)
		}
	}

	divisor := fs.Divisor
	if divisor.IsZero() {
		divisor = resource.MustParse("1")
	}

	kind, name, ok := strings.Cut(fs.Resource, ".")
	if !ok || (kind != "limits" && kind != "requests") {
		return "", configErrorf(nil, "unsupported container resource: %s", fs.Resource)
	}
	res := corev1.ResourceName(name)
	switch {
	case res == corev1.ResourceCPU, res == corev1.ResourceMemory, res == corev1.ResourceEphemeralStorage:
	case strings.HasPrefix(name, corev1.ResourceHugePagesPrefix):
	default:
		return "", configErrorf(nil, "unsupported container resource: %s", fs.Resource)
	}

	var q resource.Quantity
	if kind == "requests" {
		q = ctr.Resources.Requests[res]
	} else {
		q = r.limit(ctr, res)
	}

	if res == corev1.ResourceCPU {
		return strconv.FormatInt(ceilDiv(q.MilliValue(), divisor.MilliValue()), 10), nil
	}
	return strconv.FormatInt(ceilDiv(q.Value(), divisor.Value()), 10), nil
}

// limit returns the container's limit for res, defaulted like the kubelet's
// downward API: container limit, else pod-level limit, else node allocatable.
// Hugepages are never defaulted.
func (r *resolver) limit(ctr *corev1.Container, res corev1.ResourceName) resource.Quantity {
	if q, ok := ctr.Resources.Limits[res]; ok && !q.IsZero() {
		return q
	}
	if res != corev1.ResourceCPU && res != corev1.ResourceMemory && res != corev1.ResourceEphemeralStorage {
		return resource.Quantity{}
	}
	if r.pod.Spec.Resources != nil {
		if q, ok := r.pod.Spec.Resources.Limits[res]; ok && !q.IsZero() {
			return q
		}
	}
	return r.facts.Allocatable[res]
}

func findContainer(pod *corev1.Pod, name string) *corev1.Container {
	for i := range pod.Spec.Containers {
		if pod.Spec.Containers[i].Name == name {
			return &pod.Spec.Containers[i]
		}
	}
	for i := range pod.Spec.InitContainers {
		if pod.Spec.InitContainers[i].Name == name {
			return &pod.Spec.InitContainers[i]
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
