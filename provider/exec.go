package provider

import (
	"context"
	"fmt"

	"github.com/virtual-kubelet/virtual-kubelet/errdefs"
	"github.com/virtual-kubelet/virtual-kubelet/node/api"
	utilexec "k8s.io/utils/exec"

	"github.com/vk-containerd/vk-containerd/internal/ctrd"
)

// RunInContainer runs cmd in a running container of the pod (`kubectl
// exec`). A non-zero exit code is returned as an exec.ExitError, which the
// library passes on to the client.
func (p *Pods) RunInContainer(ctx context.Context, namespace, podName, containerName string, cmd []string, attach api.AttachIO) error {
	id, err := p.runningContainer(ctx, namespace, podName, containerName)
	if err != nil {
		return err
	}
	resize := make(chan [2]uint16)
	go func() {
		defer close(resize)
		for size := range attach.Resize() {
			select {
			case resize <- [2]uint16{size.Width, size.Height}:
			case <-ctx.Done():
				return
			}
		}
	}()
	eio := ctrd.ExecIO{Stdin: attach.Stdin(), TTY: attach.TTY(), Resize: resize}
	if out := attach.Stdout(); out != nil {
		eio.Stdout = out
	}
	if e := attach.Stderr(); e != nil {
		eio.Stderr = e
	}
	code, err := p.cfg.Runtime.Exec(ctx, id, cmd, eio)
	if err != nil {
		return err
	}
	if code != 0 {
		return utilexec.CodeExitError{Err: fmt.Errorf("command terminated with non-zero exit code %d", code), Code: code}
	}
	return nil
}

// runningContainer finds the containerd id of a running container of a pod.
func (p *Pods) runningContainer(ctx context.Context, namespace, podName, containerName string) (string, error) {
	c, err := p.runningContainerStatus(ctx, namespace, podName, containerName)
	return c.ID, err
}

// runningContainerStatus finds the running attempt of a container of a pod.
func (p *Pods) runningContainerStatus(ctx context.Context, namespace, podName, containerName string) (ctrd.ContainerStatus, error) {
	w := p.worker(namespace, podName)
	if w == nil {
		return ctrd.ContainerStatus{}, errdefs.NotFoundf("pod %s/%s is not on this node", namespace, podName)
	}
	if w.containerSpec(containerName) == nil {
		return ctrd.ContainerStatus{}, errdefs.NotFoundf("container %q not found in pod %s/%s", containerName, namespace, podName)
	}
	cs, err := p.cfg.Runtime.ListContainers(ctx, ctrd.PodFilter(string(w.uid)))
	if err != nil {
		return ctrd.ContainerStatus{}, err
	}
	for _, c := range cs {
		if c.Labels[ctrd.LabelContainerName] == containerName && c.State == ctrd.StateRunning {
			return c, nil
		}
	}
	return ctrd.ContainerStatus{}, errdefs.InvalidInputf("container %q in pod %s/%s is not running", containerName, namespace, podName)
}
