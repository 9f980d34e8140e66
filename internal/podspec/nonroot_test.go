package podspec

import (
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func TestCheckRunAsNonRoot(t *testing.T) {
	yes, no := true, false
	root, user := int64(0), int64(1000)
	pod := func(psc *corev1.PodSecurityContext) *corev1.Pod {
		return &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "p", Namespace: "ns", UID: "u"},
			Spec: corev1.PodSpec{SecurityContext: psc}}
	}
	ctr := func(sc *corev1.SecurityContext) *corev1.Container {
		return &corev1.Container{Name: "c", SecurityContext: sc}
	}
	for _, tc := range []struct {
		name      string
		pod       *corev1.Pod
		c         *corev1.Container
		imageUser string
		want      string // a part of the error; "" for none
	}{
		{"not asked", pod(nil), ctr(nil), "", ""},
		{"image without a user", pod(nil), ctr(&corev1.SecurityContext{RunAsNonRoot: &yes}), "",
			`container has runAsNonRoot and image will run as root (pod: "p_ns(u)", container: c)`},
		{"image user 0 with a group", pod(nil), ctr(&corev1.SecurityContext{RunAsNonRoot: &yes}), "0:10", "image will run as root"},
		{"image user by name", pod(&corev1.PodSecurityContext{RunAsNonRoot: &yes}), ctr(nil), "nobody",
			"image has non-numeric user (nobody), cannot verify user is non-root"},
		{"numeric image user", pod(&corev1.PodSecurityContext{RunAsNonRoot: &yes}), ctr(nil), "1234", ""},
		{"runAsUser 0", pod(&corev1.PodSecurityContext{RunAsNonRoot: &yes, RunAsUser: &root}), ctr(nil), "1234",
			"container's runAsUser breaks non-root policy"},
		{"the container's runAsUser over the pod's", pod(&corev1.PodSecurityContext{RunAsNonRoot: &yes, RunAsUser: &root}),
			ctr(&corev1.SecurityContext{RunAsUser: &user}), "", ""},
		{"the container's runAsNonRoot over the pod's", pod(&corev1.PodSecurityContext{RunAsNonRoot: &yes}),
			ctr(&corev1.SecurityContext{RunAsNonRoot: &no}), "", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := CheckRunAsNonRoot(tc.pod, tc.c, tc.imageUser)
			switch {
			case tc.want == "" && err != nil:
				t.Errorf("error %v, want none", err)
			case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
				t.Errorf("error %v, want one with %q", err, tc.want)
			}
		})
	}
}
