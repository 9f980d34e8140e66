package ctrd

import (
	"context"
	"fmt"
	"io"

	"github.com/containerd/containerd/v2/client"
	"github.com/containerd/containerd/v2/pkg/cio"
)

// Streams are the stdin, stdout and stderr of a container that keeps stdin
// open (`stdin: true`). The runc shim cannot give a process both a stdin and
// a log driver, so such a container's output goes through FIFOs in Dir that
// the agent copies itself. The shim keeps the FIFOs while the agent is down
// (output waits in the pipes) and the agent reattaches when it returns.
type Streams struct {
	Dir            string // a directory for this container's FIFOs
	Stdin          io.Reader
	Stdout, Stderr io.Writer // Stderr is unused with a TTY
	TTY            bool
}

func (s Streams) opts() []cio.Opt {
	opts := []cio.Opt{cio.WithStreams(s.Stdin, s.Stdout, s.Stderr), cio.WithFIFODir(s.Dir)}
	if s.TTY {
		opts = append(opts, cio.WithTerminal)
	}
	return opts
}

// StartContainerStreams is StartContainer for a container with Streams. The
// returned drained blocks until the container's output has been copied to
// the end, after its process exited.
func (r *Runtime) StartContainerStreams(ctx context.Context, id string, s Streams) (pid uint32, drained func(), err error) {
	task, err := r.startTask(ctx, id, cio.NewCreator(s.opts()...))
	if err != nil {
		return 0, nil, err
	}
	return task.Pid(), task.IO().Wait, nil
}

// AttachStreams connects s again to the running container id, started with
// StartContainerStreams by an earlier run of the agent.
func (r *Runtime) AttachStreams(ctx context.Context, id string, s Streams) (drained func(), err error) {
	c, err := r.client.LoadContainer(ctx, id)
	if err != nil {
		return nil, err
	}
	task, err := c.Task(ctx, cio.NewAttach(s.opts()...))
	if err != nil {
		return nil, fmt.Errorf("attach to the streams of %s: %w", id, err)
	}
	return task.IO().Wait, nil
}

// CloseStdin tells the container's process that its input ended: the shim
// holds the stdin FIFO open itself, so closing the agent's end is not enough.
func (r *Runtime) CloseStdin(ctx context.Context, id string) error {
	task, err := r.task(ctx, id)
	if err != nil {
		return err
	}
	return task.CloseIO(ctx, client.WithStdinCloser)
}

// ResizeTTY sets the terminal size of the container's process.
func (r *Runtime) ResizeTTY(ctx context.Context, id string, width, height uint16) error {
	task, err := r.task(ctx, id)
	if err != nil {
		return err
	}
	return task.Resize(ctx, uint32(width), uint32(height))
}

func (r *Runtime) task(ctx context.Context, id string) (client.Task, error) {
	c, err := r.client.LoadContainer(ctx, id)
	if err != nil {
		return nil, err
	}
	return c.Task(ctx, nil)
}
