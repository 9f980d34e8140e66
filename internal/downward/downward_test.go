package downward

import (
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
)

func TestResourceValue(t *testing.T) {
	allocatable := corev1.ResourceList{
		corev1.ResourceCPU:              resource.MustParse("2"),
		corev1.ResourceMemory:           resource.MustParse("8Gi"),
		corev1.ResourceEphemeralStorage: resource.MustParse("100Gi"),
	}
	c := corev1.Container{Name: "app", Resources: corev1.ResourceRequirements{
		Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("250m"), corev1.ResourceMemory: resource.MustParse("64Mi")},
		Limits:   corev1.ResourceList{corev1.ResourceMemory: resource.MustParse("128Mi")},
	}}
	pod := &corev1.Pod{Spec: corev1.PodSpec{Containers: []corev1.Container{c}}}
	limitOnly := pod.DeepCopy()
	delete(limitOnly.Spec.Containers[0].Resources.Requests, corev1.ResourceMemory)
	podLimited := pod.DeepCopy()
	podLimited.Spec.Resources = &corev1.ResourceRequirements{Limits: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("1500m")}}
	for _, tc := range []struct {
		name, res, divisor string
		pod                *corev1.Pod
		want               string
	}{
		{"cpu request in millicores", "requests.cpu", "1m", pod, "250"},
		{"cpu request in cores rounds up", "requests.cpu", "", pod, "1"},
		{"memory limit in Mi", "limits.memory", "1Mi", pod, "128"},
		{"unset cpu limit: the node's allocatable", "limits.cpu", "", pod, "2"},
		{"unset cpu limit: the pod-level limit first", "limits.cpu", "1m", podLimited, "1500"},
		{"unset storage limit: allocatable", "limits.ephemeral-storage", "1Gi", pod, "100"},
		{"unset storage request: zero", "requests.ephemeral-storage", "", pod, "0"},
		{"unset request: the container's own limit", "requests.memory", "1Mi", limitOnly, "128"},
		{"hugepages are never defaulted", "limits.hugepages-2Mi", "", pod, "0"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sel := &corev1.ResourceFieldSelector{Resource: tc.res}
			if tc.divisor != "" {
				sel.Divisor = resource.MustParse(tc.divisor)
			}
			got, err := ResourceValue(tc.pod, &tc.pod.Spec.Containers[0], sel, allocatable)
			if err != nil || got != tc.want {
				t.Errorf("ResourceValue(%s) = %q, %v; want %q", tc.res, got, err, tc.want)
			}
		})
	}
	for _, bad := range []string{"limits.gpu", "cpu", "usage.cpu"} {
		if _, err := ResourceValue(pod, &pod.Spec.Containers[0], &corev1.ResourceFieldSelector{Resource: bad}, allocatable); err == nil {
			t.Errorf("%s: no error", bad)
		}
	}
}

func TestContainer(t *testing.T) {
	pod := &corev1.Pod{Spec: corev1.PodSpec{
		InitContainers: []corev1.Container{{Name: "init"}},
		Containers:     []corev1.Container{{Name: "app"}},
	}}
	if Container(pod, "init") != &pod.Spec.InitContainers[0] || Container(pod, "app") != &pod.Spec.Containers[0] || Container(pod, "x") != nil {
		t.Error("Container finds the wrong container")
	}
}

func TestMetadata(t *testing.T) {
	pod := &corev1.Pod{}
	pod.Name, pod.Namespace, pod.UID = "web", "ns1", "uid-1"
	pod.Labels = map[string]string{"app": "web"}
	pod.Annotations = map[string]string{"example.com/note": "hi"}
	for path, want := range map[string]string{
		"metadata.name": "web", "metadata.namespace": "ns1", "metadata.uid": "uid-1",
		"metadata.labels['app']": "web", "metadata.labels['missing']": "",
		"metadata.annotations['example.com/note']": "hi",
	} {
		if got, ok, err := Metadata(pod, path); !ok || err != nil || got != want {
			t.Errorf("Metadata(%s) = %q, %v, %v; want %q", path, got, ok, err, want)
		}
	}
	for _, bad := range []string{"metadata.labels['bad key!']", "metadata.name['x']"} {
		if _, ok, err := Metadata(pod, bad); !ok || err == nil {
			t.Errorf("Metadata(%s): ok %v err %v, want an error", bad, ok, err)
		}
	}
	if _, ok, _ := Metadata(pod, "spec.nodeName"); ok {
		t.Error("spec.nodeName is not metadata")
	}
}
