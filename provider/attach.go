package provider

import (
	"context"
	"io"

	"github.com/virtual-kubelet/virtual-kubelet/errdefs"
	"github.com/virtual-kubelet/virtual-kubelet/node/api"

	"github.com/vk-containerd/vk-containerd/internal/crilog"
	"github.com/vk-containerd/vk-containerd/internal/ctrd"
)

// AttachToContainer connects a client to the main process of a running
// container (`kubectl attach`): its output from now on, read from the
// container's log as it is written, and, for a container with `stdin: true`,
// its input. The session ends when the container exits or the client leaves.
func (p *Pods) AttachToContainer(ctx context.Context, namespace, podName, containerName string, attach api.AttachIO) error {
	cur, err := p.runningContainerStatus(ctx, namespace, podName, containerName)
	if err != nil {
		return err
	}
	w := p.worker(namespace, podName)
	spec := w.containerSpec(containerName)
	// Input is sent once output is followed, so no answer to it is missed.
	sendInput := func() {}
	if in := attach.Stdin(); in != nil {
		if spec == nil || !spec.Stdin {
			return errdefs.InvalidInputf("container %q in pod %s/%s does not keep stdin open (stdin: true), so input cannot be attached", containerName, namespace, podName)
		}
		stdin := p.streams.get(cur.ID)
		if stdin == nil {
			return errdefs.InvalidInputf("the stdin of container %q in pod %s/%s is not connected; see the node's log", containerName, namespace, podName)
		}
		sendInput = func() {
			go func() {
				if _, err := io.Copy(stdin.w, in); err == nil && stdin.once {
					stdin.closeStdin(context.WithoutCancel(ctx), p.cfg.Runtime, cur.ID)
				}
			}()
		}
	}
	if attach.TTY() {
		go func() {
			for size := range attach.Resize() {
				_ = p.cfg.Runtime.ResizeTTY(ctx, cur.ID, size.Width, size.Height)
			}
		}()
	}
	out, errOut := io.Writer(io.Discard), io.Writer(io.Discard)
	if o := attach.Stdout(); o != nil {
		out = o
	}
	if e := attach.Stderr(); e != nil {
		errOut = e
	}
	exited := func() bool {
		st, err := p.cfg.Runtime.Status(ctx, cur.ID)
		return err != nil || st.State != ctrd.StateRunning
	}
	opts := crilog.Options{Tail: 0, Follow: true, Stderr: errOut, Following: sendInput}
	return crilog.ReadLogs(ctx, w.dir.Log(containerName, ctrd.Attempt(cur.Labels)), opts, out, exited)
}
