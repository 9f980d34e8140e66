package provider

import (
	"errors"
	"testing"

	corev1 "k8s.io/api/core/v1"
)

func TestImageVolumes(t *testing.T) {
	const volumeImage, volumeRef = "kitten:1.8", "docker.io/library/kitten:1.8"
	imagePod := func(policy corev1.PullPolicy) *corev1.Pod {
		pod := appPod(corev1.RestartPolicyAlways, nil, "app")
		pod.Spec.Volumes = []corev1.Volume{{Name: "img", VolumeSource: corev1.VolumeSource{
			Image: &corev1.ImageVolumeSource{Reference: volumeImage, PullPolicy: policy}}}}
		pod.Spec.Containers[0].VolumeMounts = []corev1.VolumeMount{{Name: "img", MountPath: "/volume"}}
		return pod
	}

	t.Run("pulled by its policy, mounted for the container, removed with the pod", func(t *testing.T) {
		n := newNode(t)
		n.images.present[volumeRef] = true
		pod := imagePod(corev1.PullAlways)
		w := n.worker(n.pods, pod)
		n.running(w, pod)
		if n.images.pulls != 1 || len(n.recorder.byReason(eventPulled)) != 1 {
			t.Errorf("pulls = %d, Pulled events %v; want the present image pulled again (Always)", n.images.pulls, n.recorder.byReason(eventPulled))
		}
		key := imageViewKey(pod.UID, "img")
		if target := n.rt.views[key]; target != "/pods/"+string(pod.UID)+"/volumes/img" {
			t.Errorf("view %s mounted at %q", key, target)
		}
		if !isPodSnapshot(key) || podUIDOf(key) != pod.UID {
			t.Errorf("view key %q is not known as the pod's", key)
		}
		w.requestDelete(pod)
		n.settle(w)
		if len(n.rt.views) != 0 {
			t.Errorf("views after the pod is gone: %v", n.rt.views)
		}
	})

	t.Run("a failed pull: the container waits with ErrImagePull, then ImagePullBackOff", func(t *testing.T) {
		n := newNode(t)
		n.images.present[testImage] = true
		n.images.pullErr[volumeRef] = errors.New("not found")
		pod := imagePod(corev1.PullIfNotPresent)
		w := n.worker(n.pods, pod)
		n.settle(w)
		cs := n.last().ContainerStatuses[0]
		if cs.State.Waiting == nil || cs.State.Waiting.Reason != ReasonErrImagePull ||
			cs.State.Waiting.Message != `failed to pull image "kitten:1.8": image pull failed: not found` {
			t.Fatalf("waiting = %+v", cs.State.Waiting)
		}
		n.clock.advance(retryPause)
		w.kick()
		n.settle(w)
		if cs := n.last().ContainerStatuses[0]; cs.State.Waiting == nil || cs.State.Waiting.Reason != ReasonImagePullBackOff {
			t.Errorf("after the first failure: waiting = %+v", cs.State.Waiting)
		}
		if len(n.rt.views) != 0 {
			t.Errorf("views: %v", n.rt.views)
		}
	})
}
