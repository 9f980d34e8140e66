package provider

import (
	"context"
	"fmt"

	corev1 "k8s.io/api/core/v1"

	"github.com/vk-containerd/vk-containerd/internal/ctrd"
)

// Image volumes (volumes[].image): an image's root filesystem, read-only,
// at the mount paths of the containers that mount it. As on the kubelet,
// the image is made present by the volume's pull policy when a container
// that mounts it is created, and a failed pull keeps that container waiting
// with the pull's reasons (ErrImagePull, then ImagePullBackOff). The
// filesystem is a containerd snapshot view, mounted on the volume's
// directory (which volumes.Manager leaves empty) and removed with the pod.

// mountImageVolumes makes the image volumes that c mounts present and
// mounted.
func (w *worker) mountImageVolumes(ctx context.Context, pod *corev1.Pod, c *corev1.Container) error {
	for _, vm := range c.VolumeMounts {
		v := podVolume(pod, vm.Name)
		if v == nil || v.Image == nil {
			continue
		}
		img, err := w.ensureImageRef(ctx, pod, v.Image.Reference, pullPolicy(v.Image.Reference, v.Image.PullPolicy))
		if err != nil {
			return err
		}
		target := w.volumePaths[v.Name]
		if target == "" {
			return fmt.Errorf("%w: image volume %q has no directory", ctrd.ErrCreate, v.Name)
		}
		if err := w.p.cfg.Runtime.MountImageView(ctx, img, imageViewKey(w.uid, v.Name), target, w.p.cfg.HostRoot); err != nil {
			return fmt.Errorf("%w: image volume %q: %w", ctrd.ErrCreate, v.Name, err)
		}
	}
	return nil
}

// removeImageViews removes the snapshot views of the pod's image volumes,
// once volumes.Manager unmounted them.
func (w *worker) removeImageViews(ctx context.Context, pod *corev1.Pod) []error {
	var errs []error
	for _, v := range pod.Spec.Volumes {
		if v.Image == nil {
			continue
		}
		if err := w.p.cfg.Runtime.RemoveSnapshot(ctx, imageViewKey(w.uid, v.Name)); err != nil {
			errs = append(errs, err)
		}
	}
	return errs
}

// podVolume is the pod's volume of that name, or nil.
func podVolume(pod *corev1.Pod, name string) *corev1.Volume {
	for i := range pod.Spec.Volumes {
		if pod.Spec.Volumes[i].Name == name {
			return &pod.Spec.Volumes[i]
		}
	}
	return nil
}
