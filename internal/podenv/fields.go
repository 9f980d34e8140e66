package podenv

import (
	"strings"

	corev1 "k8s.io/api/core/v1"

	"github.com/vk-containerd/vk-containerd/internal/downward"
)

// fieldRef returns the value of a downward API field of the pod.
func (r *resolver) fieldRef(fs *corev1.ObjectFieldSelector) (string, error) {
	if fs.APIVersion != "" && fs.APIVersion != "v1" {
		return "", configErrorf(nil, "unsupported pod version: %s", fs.APIVersion)
	}
	pod := r.pod
	path := fs.FieldPath
	if v, ok, err := downward.Metadata(pod, path); ok {
		if err != nil {
			return "", configErrorf(nil, "%s", err.Error())
		}
		return v, nil
	}

	switch path {
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

// resourceFieldRef is a container's resource request or limit, as package
// downward computes it for env and volumes alike.
func (r *resolver) resourceFieldRef(fs *corev1.ResourceFieldSelector) (string, error) {
	ctr := r.ctr
	if fs.ContainerName != "" && fs.ContainerName != ctr.Name {
		ctr = downward.Container(r.pod, fs.ContainerName)
		if ctr == nil {
			return "", configErrorf(nil, "container %s not found", fs.ContainerName)
		}
	}
	v, err := downward.ResourceValue(r.pod, ctr, fs, r.facts.Allocatable)
	if err != nil {
		return "", configErrorf(nil, "%s", err.Error())
	}
	return v, nil
}
