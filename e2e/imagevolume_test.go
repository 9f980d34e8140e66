//go:build e2e

package e2e

import (
	"context"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
)

// imageVolumePod mounts image as a volume at /image, and its bin directory
// (a subPath) at /image-bin.
func imageVolumePod(name, image string) *corev1.Pod {
	pod := podSpec(name, busybox, "sleep", "3600")
	pod.Spec.Volumes = []corev1.Volume{{Name: "img", VolumeSource: corev1.VolumeSource{
		Image: &corev1.ImageVolumeSource{Reference: image, PullPolicy: corev1.PullIfNotPresent}}}}
	pod.Spec.Containers[0].VolumeMounts = []corev1.VolumeMount{
		{Name: "img", MountPath: "/image"},
		{Name: "img", MountPath: "/image-bin", SubPath: "bin"},
	}
	return pod
}

// TestImageVolume mounts an image's filesystem read-only, whole and by a
// subPath; keeps it across an agent restart; leaves nothing of it on the
// host once the pod is gone; and reports a missing image as a pull error.
func TestImageVolume(t *testing.T) {
	requireNode(t, "VKC_E2E_CONTROL is not set: the test restarts the agent and checks the node's host")
	ns := testNamespace(t)
	p := createPod(t, ns, imageVolumePod("image", busybox))
	waitPod(t, ns, "image", 60*time.Second, "Running", isRunningReady)
	check := func(when string) {
		t.Helper()
		out, errOut, code := kubectl(t, "", "-n", ns, "exec", "image", "--", "sh", "-c",
			"ls /image/bin/busybox /image-bin/busybox && ! touch /image/x 2>/dev/null && echo read-only")
		if code != 0 || !strings.Contains(out, "/image-bin/busybox") || !strings.HasSuffix(strings.TrimSpace(out), "read-only") {
			t.Fatalf("%s: the image volume: %q %q (exit %d)", when, out, errOut, code)
		}
	}
	check("started")

	id := containerStatus(getPod(t, ns, "image"), "main").ContainerID
	control(t, "restart", "vk-containerd")
	time.Sleep(3 * time.Second)
	after := waitPod(t, ns, "image", 60*time.Second, "Running after the agent restart", isRunningReady)
	if cs := containerStatus(after, "main"); cs.ContainerID != id {
		t.Errorf("container %s after the agent restart, was %s", cs.ContainerID, id)
	}
	check("after the agent restart")

	zero := int64(0)
	deletePodAndWait(t, ns, "image", &zero, 30*time.Second)
	eventually(t, 30*time.Second, "nothing of the pod left on the host (mounts, snapshots)", func(ctx context.Context) (bool, error) {
		return controlOK("check-clean", string(p.UID)), nil
	})

	createPod(t, ns, imageVolumePod("missing", registry+"/no-such-image:1.0"))
	got := waitPod(t, ns, "missing", 60*time.Second, "waiting on the image volume's pull", waitingReasonIn("ErrImagePull", "ImagePullBackOff"))
	if msg := containerStatus(got, "main").State.Waiting.Message; !strings.Contains(msg, "no-such-image:1.0") {
		t.Errorf("waiting message %q does not name the image", msg)
	}
}
