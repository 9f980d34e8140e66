package provider

import (
	"testing"

	corev1 "k8s.io/api/core/v1"

	"github.com/vk-containerd/vk-containerd/cni"
	"github.com/vk-containerd/vk-containerd/internal/sandbox"
)

const testDigest = "sha256:2222222222222222222222222222222222222222222222222222222222222222"

// The API server's default (SetDefaults_Container): Always when the tag is
// "latest" or there is neither tag nor digest, else IfNotPresent; an explicit
// policy is kept. A registry port is not a tag.
func TestPullPolicy(t *testing.T) {
	for _, tc := range []struct {
		image  string
		policy corev1.PullPolicy
		want   corev1.PullPolicy
	}{
		{"busybox", "", corev1.PullAlways},
		{"busybox:latest", "", corev1.PullAlways},
		{"docker.io/library/busybox:latest", "", corev1.PullAlways},
		{"busybox:1.36", "", corev1.PullIfNotPresent},
		{"registry.k8s.io/pause:3.10", "", corev1.PullIfNotPresent},
		{"127.0.0.1:5000/busybox", "", corev1.PullAlways},
		{"127.0.0.1:5000/busybox:latest", "", corev1.PullAlways},
		{"127.0.0.1:5000/busybox:v1", "", corev1.PullIfNotPresent},
		{"localhost:5000/team/app", "", corev1.PullAlways},
		{"localhost:5000/team/app:2", "", corev1.PullIfNotPresent},
		{"busybox@" + testDigest, "", corev1.PullIfNotPresent},
		{"127.0.0.1:5000/busybox@" + testDigest, "", corev1.PullIfNotPresent},
		{"busybox:1.36@" + testDigest, "", corev1.PullIfNotPresent},
		// ParseImageName reports the tag "latest" next to the digest.
		{"busybox:latest@" + testDigest, "", corev1.PullAlways},
		{"busybox", corev1.PullIfNotPresent, corev1.PullIfNotPresent},
		{"busybox:latest", corev1.PullNever, corev1.PullNever},
		{"busybox:1.36", corev1.PullAlways, corev1.PullAlways},
	} {
		if got := pullPolicy(tc.image, tc.policy); got != tc.want {
			t.Errorf("pullPolicy(%q, %q) = %q, want %q", tc.image, tc.policy, got, tc.want)
		}
	}
}

// imageID is what the kubelet reports from containerd: the repository and the
// digest of the image's manifest (or index), "<repo>@<digest>".
func TestImageID(t *testing.T) {
	for _, tc := range []struct {
		ref, want string
	}{
		{"docker.io/library/busybox:1.36", "docker.io/library/busybox@" + testDigest},
		{"docker.io/library/busybox:latest", "docker.io/library/busybox@" + testDigest},
		{"127.0.0.1:5000/busybox:latest", "127.0.0.1:5000/busybox@" + testDigest},
		{"127.0.0.1:5000/team/app:v1", "127.0.0.1:5000/team/app@" + testDigest},
		{"127.0.0.1:5000/busybox", "127.0.0.1:5000/busybox@" + testDigest},
		{"docker.io/library/busybox@" + testDigest, "docker.io/library/busybox@" + testDigest},
		{"registry.example.com/app@sha256:3333333333333333333333333333333333333333333333333333333333333333", "registry.example.com/app@" + testDigest},
	} {
		if got := imageID(tc.ref, testDigest); got != tc.want {
			t.Errorf("imageID(%q) = %q, want %q", tc.ref, got, tc.want)
		}
	}
}

// A hostNetwork pod joins the node's network namespace (--host-network-namespace,
// or containerd's) and the host's UTS; any other pod its sandbox's.
func TestJoinedNetworkAndUTS(t *testing.T) {
	sb := &sandbox.Sandbox{Namespaces: cni.NamespacesIn("/pods/u/ns")}
	pod := &corev1.Pod{}
	if n, u := joinedNetworkAndUTS(pod, sb, "/run/netns/node-2"); n != "/pods/u/ns/net" || u != "/pods/u/ns/uts" {
		t.Errorf("pod network: %q, %q", n, u)
	}
	pod.Spec.HostNetwork = true
	if n, u := joinedNetworkAndUTS(pod, sb, "/run/netns/node-2"); n != "/run/netns/node-2" || u != "" {
		t.Errorf("host network in a namespace of the node's: %q, %q", n, u)
	}
	if n, u := joinedNetworkAndUTS(pod, sb, ""); n != "" || u != "" {
		t.Errorf("host network, containerd's: %q, %q", n, u)
	}
}
