package volumes

import (
	"context"
	"strconv"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
)

func TestFormatMap(t *testing.T) {
	got := formatMap(map[string]string{"b": "two", "a": "x\"y\n", "app.kubernetes.io/name": "web"})
	want := "a=\"x\\\"y\\n\"\napp.kubernetes.io/name=\"web\"\nb=\"two\""
	if got != want {
		t.Errorf("formatMap = %q, want %q", got, want)
	}
	if got := formatMap(nil); got != "" {
		t.Errorf("formatMap(nil) = %q, want empty", got)
	}
}

func field(path, fieldPath string) corev1.DownwardAPIVolumeFile {
	return corev1.DownwardAPIVolumeFile{Path: path, FieldRef: &corev1.ObjectFieldSelector{FieldPath: fieldPath}}
}

func resField(path, resourceName, divisor string) corev1.DownwardAPIVolumeFile {
	ref := &corev1.ResourceFieldSelector{ContainerName: "app", Resource: resourceName}
	if divisor != "" {
		ref.Divisor = resource.MustParse(divisor)
	}
	return corev1.DownwardAPIVolumeFile{Path: path, ResourceFieldRef: ref}
}

func downwardPod(items ...corev1.DownwardAPIVolumeFile) *corev1.Pod {
	pod := testPod(corev1.Volume{Name: "info", VolumeSource: corev1.VolumeSource{DownwardAPI: &corev1.DownwardAPIVolumeSource{Items: items}}})
	pod.Labels = map[string]string{"tier": "front", "app": "web"}
	pod.Annotations = map[string]string{"note": `say "hi"`}
	pod.Spec.Containers[0].Resources = corev1.ResourceRequirements{
		Limits:   corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("250m"), corev1.ResourceMemory: resource.MustParse("100Mi")},
		Requests: corev1.ResourceList{corev1.ResourceMemory: resource.MustParse("64Mi")},
	}
	return pod
}

func TestDownwardAPIVolume(t *testing.T) {
	m, _, _, _ := newTestManager(t)
	pod := downwardPod(
		field("name", "metadata.name"),
		field("namespace", "metadata.namespace"),
		field("uid", "metadata.uid"),
		field("labels", "metadata.labels"),
		field("annotations", "metadata.annotations"),
		resField("cpu_limit", "limits.cpu", ""),
		resField("cpu_limit_milli", "limits.cpu", "1m"),
		resField("mem_limit_mi", "limits.memory", "1Mi"),
		resField("mem_request", "requests.memory", ""),
		resField("cpu_request", "requests.cpu", "1m"),
		resField("storage_request", "requests.ephemeral-storage", ""),
	)
	pod.Spec.Volumes[0].DownwardAPI.Items[5].Mode = ptr(int32(0o600))
	paths, err := m.Prepare(context.Background(), pod)
	if err != nil {
		t.Fatal(err)
	}
	dir := paths["info"]
	for name, want := range map[string]string{
		"name":            "web",
		"namespace":       "ns1",
		"uid":             "uid-1",
		"labels":          "app=\"web\"\ntier=\"front\"",
		"annotations":     `note="say \"hi\""`,
		"cpu_limit_milli": "250",
		"mem_limit_mi":    "100",
		"mem_request":     strconv.Itoa(64 << 20),
		"cpu_request":     "250", // unset request follows the limit
		"storage_request": "0",   // no request and no limit
	} {
		checkFile(t, dir, name, want, 0o644)
	}
	checkFile(t, dir, "cpu_limit", "1", 0o600) // 250m rounds up to 1 core

	// Label changes reach the file on Refresh.
	pod.Labels["tier"] = "back"
	if _, err := m.Refresh(context.Background(), pod); err != nil {
		t.Fatal(err)
	}
	checkFile(t, dir, "labels", "app=\"web\"\ntier=\"back\"", 0o644)
}

// testAllocatable is the node's allocatable in the volume tests.
var testAllocatable = corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("3"), corev1.ResourceMemory: resource.MustParse("4Gi")}

// A limit the container does not set is the node's allocatable, the value
// its environment shows too (package downward).
func TestDownwardAPIUnsetLimitIsNodeAllocatable(t *testing.T) {
	m, _, _, _ := newTestManager(t)
	pod := downwardPod(resField("cpus", "limits.cpu", ""))
	pod.Spec.Containers[0].Resources = corev1.ResourceRequirements{}
	paths, err := m.Prepare(context.Background(), pod)
	if err != nil {
		t.Fatal(err)
	}
	checkFile(t, paths["info"], "cpus", "3", 0o644)
}

func TestDownwardAPIErrors(t *testing.T) {
	m, _, _, _ := newTestManager(t)
	noContainer := resField("x", "limits.cpu", "")
	noContainer.ResourceFieldRef.ContainerName = "other"
	noName := resField("x", "limits.cpu", "")
	noName.ResourceFieldRef.ContainerName = ""
	for name, item := range map[string]corev1.DownwardAPIVolumeFile{
		"unknown field":     field("x", "spec.nodeName"),
		"unknown resource":  resField("x", "limits.gpu", ""),
		"unknown container": noContainer,
		"no container":      noName,
		"negative divisor":  resField("x", "limits.cpu", "-1"),
		"nothing set":       {Path: "x"},
	} {
		if _, err := m.Prepare(context.Background(), downwardPod(item)); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}
