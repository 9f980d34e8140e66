package podspec

import (
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func TestInvalidNames(t *testing.T) {
	const label = "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')"
	good := func() *corev1.Pod {
		return &corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{UID: "0f3b6d0e-1a2b-4c3d-8e9f-0123456789ab"},
			Spec: corev1.PodSpec{
				InitContainers: []corev1.Container{{Name: "init"}},
				Containers:     []corev1.Container{{Name: "app"}, {Name: "side-car2"}},
				Volumes:        []corev1.Volume{{Name: "app"}}, // volumes have names of their own
			},
		}
	}
	if msg := InvalidNames(good()); msg != "" {
		t.Fatalf("valid pod refused: %s", msg)
	}
	cases := map[string]struct {
		edit func(*corev1.Pod)
		want string
	}{
		"dotdot container": {func(p *corev1.Pod) { p.Spec.Containers[0].Name = ".." },
			`invalid pod: spec.containers[0].name: Invalid value: "..": ` + label},
		"slash container": {func(p *corev1.Pod) { p.Spec.Containers[1].Name = "../../etc" },
			`invalid pod: spec.containers[1].name: Invalid value: "../../etc": ` + label},
		"init container": {func(p *corev1.Pod) { p.Spec.InitContainers[0].Name = "Init" },
			`invalid pod: spec.initContainers[0].name: Invalid value: "Init": ` + label},
		"ephemeral container": {func(p *corev1.Pod) {
			p.Spec.EphemeralContainers = []corev1.EphemeralContainer{{EphemeralContainerCommon: corev1.EphemeralContainerCommon{Name: "a/b"}}}
		}, `invalid pod: spec.ephemeralContainers[0].name: Invalid value: "a/b": ` + label},
		"duplicate": {func(p *corev1.Pod) { p.Spec.Containers[1].Name = "init" },
			`invalid pod: spec.containers[1].name: Duplicate value: "init"`},
		"empty": {func(p *corev1.Pod) { p.Spec.Containers[0].Name = "" },
			`invalid pod: spec.containers[0].name: Invalid value: "": ` + label},
		"volume": {func(p *corev1.Pod) { p.Spec.Volumes[0].Name = ".." },
			`invalid pod: spec.volumes[0].name: Invalid value: "..": ` + label},
		"uid": {func(p *corev1.Pod) { p.UID = "../../etc" },
			`invalid pod: metadata.uid: Invalid value: "../../etc": pod UID "../../etc" is not a plain name`},
	}
	for name, c := range cases {
		p := good()
		c.edit(p)
		if got := InvalidNames(p); got != c.want {
			t.Errorf("%s:\n got %s\nwant %s", name, got, c.want)
		}
	}
}
