package podenv

import (
	"context"
	"errors"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// resolveOne resolves a single env var named V and returns its value.
func resolveOne(t *testing.T, pod *corev1.Pod, c *corev1.Container, f Facts, src *corev1.EnvVarSource) (string, error) {
	t.Helper()
	c = c.DeepCopy()
	c.Env = []corev1.EnvVar{{Name: "V", ValueFrom: src}}
	got, err := Resolve(context.Background(), newSource(), pod, c, f)
	if err != nil {
		return "", err
	}
	if len(got) != 1 || got[0][:2] != "V=" {
		t.Fatalf("unexpected env %q", got)
	}
	return got[0][2:], nil
}

func TestFieldRef(t *testing.T) {
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "prod", UID: "1234",
			Labels:      map[string]string{"app": "web", "example.com/tier": "front"},
			Annotations: map[string]string{"note": "hi"}},
		Spec: corev1.PodSpec{ServiceAccountName: "sa"},
	}
	facts := Facts{PodIPs: []string{"10.0.0.5", "fd00::5"}, HostIPs: []string{"192.168.1.2", "fd00::2"}, NodeName: "node-a"}
	withNode := pod.DeepCopy()
	withNode.Spec.NodeName = "node-b"
	fromStatus := pod.DeepCopy()
	fromStatus.Status = corev1.PodStatus{PodIP: "10.1.1.1", PodIPs: []corev1.PodIP{{IP: "10.1.1.1"}, {IP: "fd01::1"}},
		HostIP: "192.168.9.9", HostIPs: []corev1.HostIP{{IP: "192.168.9.9"}}}

	for _, tc := range []struct {
		name, path, apiVersion string
		pod                    *corev1.Pod
		facts                  *Facts // nil: the default facts
		want, wantErr          string
	}{
		{name: "name", path: "metadata.name", want: "web"},
		{name: "namespace", path: "metadata.namespace", want: "prod"},
		{name: "uid", path: "metadata.uid", want: "1234"},
		{name: "label", path: "metadata.labels['app']", want: "web"},
		{name: "prefixed label", path: "metadata.labels['example.com/tier']", want: "front"},
		{name: "missing label", path: "metadata.labels['nope']", want: ""},
		{name: "annotation", path: "metadata.annotations['note']", want: "hi"},
		{name: "nodeName from facts", path: "spec.nodeName", want: "node-a"},
		{name: "nodeName from spec", path: "spec.nodeName", pod: withNode, want: "node-b"},
		{name: "service account", path: "spec.serviceAccountName", want: "sa"},
		{name: "podIP", path: "status.podIP", want: "10.0.0.5"},
		{name: "podIPs", path: "status.podIPs", want: "10.0.0.5,fd00::5"},
		{name: "hostIP", path: "status.hostIP", want: "192.168.1.2"},
		{name: "hostIPs", path: "status.hostIPs", want: "192.168.1.2,fd00::2"},
		{name: "podIPs from status", path: "status.podIPs", pod: fromStatus, facts: &Facts{}, want: "10.1.1.1,fd01::1"},
		{name: "hostIP from status", path: "status.hostIP", pod: fromStatus, facts: &Facts{}, want: "192.168.9.9"},
		{name: "no podIP", path: "status.podIP", facts: &Facts{}, want: ""},
		{name: "explicit v1", path: "metadata.name", apiVersion: "v1", want: "web"},
		{name: "bad version", path: "metadata.name", apiVersion: "v2", wantErr: "unsupported pod version: v2"},
		{name: "unsupported", path: "spec.hostname", wantErr: "unsupported fieldPath: spec.hostname"},
		{name: "whole labels map", path: "metadata.labels", wantErr: "unsupported fieldPath: metadata.labels"},
		{name: "bad subscript", path: "metadata.name['x']", wantErr: "field label does not support subscript: metadata.name['x']"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p, f := pod, facts
			if tc.pod != nil {
				p = tc.pod
			}
			if tc.facts != nil {
				f = *tc.facts
			}
			got, err := resolveOne(t, p, &corev1.Container{Name: "app"}, f, &corev1.EnvVarSource{
				FieldRef: &corev1.ObjectFieldSelector{APIVersion: tc.apiVersion, FieldPath: tc.path}})
			if tc.wantErr != "" {
				if err == nil || err.Error() != tc.wantErr || !errors.Is(err, ErrConfig) {
					t.Fatalf("err = %v, want config error %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got != tc.want {
				t.Fatalf("got %q, want %q", got, tc.want)
			}
		})
	}
}

func TestResourceFieldRef(t *testing.T) {
	q := resource.MustParse
	app := corev1.Container{Name: "app", Resources: corev1.ResourceRequirements{
		Requests: corev1.ResourceList{corev1.ResourceCPU: q("250m"), corev1.ResourceMemory: q("64Mi"),
			corev1.ResourceEphemeralStorage: q("1Gi")},
		Limits: corev1.ResourceList{corev1.ResourceCPU: q("1500m"), corev1.ResourceMemory: q("128Mi"),
			"hugepages-2Mi": q("4Mi")},
	}}
	side := corev1.Container{Name: "side", Resources: corev1.ResourceRequirements{
		Limits: corev1.ResourceList{corev1.ResourceMemory: q("1Gi")}}}
	initC := corev1.Container{Name: "init", Resources: corev1.ResourceRequirements{
		Requests: corev1.ResourceList{corev1.ResourceCPU: q("2")}}}
	pod := testPod()
	pod.Spec.Containers = []corev1.Container{app, side}
	pod.Spec.InitContainers = []corev1.Container{initC}
	podLevel := pod.DeepCopy()
	podLevel.Spec.Resources = &corev1.ResourceRequirements{Limits: corev1.ResourceList{corev1.ResourceEphemeralStorage: q("5Gi")}}
	alloc := Facts{Allocatable: corev1.ResourceList{corev1.ResourceCPU: q("4"), corev1.ResourceMemory: q("8Gi"),
		corev1.ResourceEphemeralStorage: q("100Gi")}}

	for _, tc := range []struct {
		name, res, ctr, divisor string
		pod                     *corev1.Pod
		facts                   Facts
		want, wantErr           string
	}{
		{name: "limits.cpu rounds up", res: "limits.cpu", want: "2"},
		{name: "limits.cpu millicores", res: "limits.cpu", divisor: "1m", want: "1500"},
		{name: "requests.cpu small rounds to 1", res: "requests.cpu", want: "1"},
		{name: "requests.cpu divisor 100m", res: "requests.cpu", divisor: "100m", want: "3"},
		{name: "limits.memory bytes", res: "limits.memory", want: "134217728"},
		{name: "limits.memory Mi", res: "limits.memory", divisor: "1Mi", want: "128"},
		{name: "requests.memory M rounds up", res: "requests.memory", divisor: "1M", want: "68"},
		{name: "requests.ephemeral-storage Gi", res: "requests.ephemeral-storage", divisor: "1Gi", want: "1"},
		{name: "unset request is 0", res: "requests.cpu", ctr: "side", want: "0"},
		{name: "hugepages", res: "limits.hugepages-2Mi", divisor: "1Mi", want: "4"},
		{name: "unset limit without allocatable is 0", res: "limits.ephemeral-storage", want: "0"},
		{name: "unset limit uses allocatable", res: "limits.ephemeral-storage", divisor: "1Gi", facts: alloc, want: "100"},
		{name: "set limit ignores allocatable", res: "limits.cpu", facts: alloc, want: "2"},
		{name: "pod-level limit before allocatable", res: "limits.ephemeral-storage", divisor: "1Gi", pod: podLevel, facts: alloc, want: "5"},
		{name: "other container", res: "limits.memory", ctr: "side", divisor: "1Mi", want: "1024"},
		{name: "other container allocatable cpu", res: "limits.cpu", ctr: "side", facts: alloc, want: "4"},
		{name: "init container", res: "requests.cpu", ctr: "init", divisor: "1m", want: "2000"},
		{name: "unknown container", res: "limits.cpu", ctr: "ghost", wantErr: "container ghost not found"},
		{name: "unsupported resource", res: "limits.gpu", wantErr: "unsupported container resource: limits.gpu"},
		{name: "malformed resource", res: "cpu", wantErr: "unsupported container resource: cpu"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := pod
			if tc.pod != nil {
				p = tc.pod
			}
			sel := &corev1.ResourceFieldSelector{ContainerName: tc.ctr, Resource: tc.res}
			if tc.divisor != "" {
				sel.Divisor = q(tc.divisor)
			}
			got, err := resolveOne(t, p, &app, tc.facts, &corev1.EnvVarSource{ResourceFieldRef: sel})
			if tc.wantErr != "" {
				if err == nil || err.Error() != tc.wantErr || !errors.Is(err, ErrConfig) {
					t.Fatalf("err = %v, want config error %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got != tc.want {
				t.Fatalf("got %q, want %q", got, tc.want)
			}
		})
	}
}
