package provider

import (
	"context"
	"errors"
	"io"
	"sync"

	"github.com/virtual-kubelet/virtual-kubelet/log"
	corev1 "k8s.io/api/core/v1"

	"github.com/vk-containerd/vk-containerd/internal/crilog"
	"github.com/vk-containerd/vk-containerd/internal/ctrd"
)

// errContainerExited ends the stdin writes of attach sessions whose
// container has exited.
var errContainerExited = errors.New("container exited")

// stdinStream is the agent's end of the stdin of a container that keeps
// stdin open (`stdin: true`). Attach sessions write into it; the container's
// output is copied into its CRI log, where attach sessions read it.
type stdinStream struct {
	w         *io.PipeWriter
	r         *io.PipeReader
	once      bool // stdinOnce: the first session's end of input closes stdin
	closeOnce sync.Once
}

// streamSet holds the stdin streams of the node's running containers, by
// containerd id.
type streamSet struct {
	mu sync.Mutex
	m  map[string]*stdinStream
}

func (s *streamSet) get(id string) *stdinStream {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.m[id]
}

func (s *streamSet) put(id string, st *stdinStream) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.m == nil {
		s.m = map[string]*stdinStream{}
	}
	s.m[id] = st
}

func (s *streamSet) drop(id string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.m, id)
}

// openStreams prepares the streams of container c (containerd id id),
// whose output goes to the CRI log at logPath. Either the start or the
// reattach hands the result to containerd; then keep runs until the output
// is drained, or abandon undoes it when that failed.
func (w *worker) openStreams(c *corev1.Container, id, logPath string) (s ctrd.Streams, keep func(drained func()), abandon func(), err error) {
	lw, err := crilog.NewWriter(logPath, w.p.cfg.LogMaxSize, w.p.cfg.LogMaxFiles)
	if err != nil {
		return s, nil, nil, err
	}
	inR, inW := io.Pipe()
	outR, outW := io.Pipe()
	errR, errW := io.Pipe()
	var copying sync.WaitGroup
	for _, p := range []struct {
		stream string
		r      *io.PipeReader
	}{{"stdout", outR}, {"stderr", errR}} {
		copying.Add(1)
		go func() {
			defer copying.Done()
			if err := lw.Copy(p.stream, p.r); err != nil {
				// Keep the container's output flowing even if the log
				// cannot be written.
				_, _ = io.Copy(io.Discard, p.r)
			}
		}()
	}
	stdin := &stdinStream{w: inW, r: inR, once: c.StdinOnce}
	closeAll := func() {
		outW.Close()
		errW.Close()
		copying.Wait()
		lw.Close()
		inR.CloseWithError(errContainerExited)
		w.p.streams.drop(id)
	}
	keep = func(drained func()) {
		w.p.streams.put(id, stdin)
		go func() {
			drained()
			closeAll()
		}()
	}
	s = ctrd.Streams{
		Dir:    w.dir.IO(id),
		Stdin:  inR,
		Stdout: outW,
		Stderr: errW,
		TTY:    c.TTY,
	}
	return s, keep, closeAll, nil
}

// startWithStreams starts container c with streams held by the agent.
func (w *worker) startWithStreams(ctx context.Context, c *corev1.Container, id, logPath string) error {
	s, keep, abandon, err := w.openStreams(c, id, logPath)
	if err != nil {
		return err
	}
	_, drained, err := w.p.cfg.Runtime.StartContainerStreams(ctx, id, s)
	if err != nil {
		abandon()
		return err
	}
	keep(drained)
	return nil
}

// reattachStreams connects the agent again to the streams of a running
// container that an earlier run of the agent started.
func (w *worker) reattachStreams(ctx context.Context, cur ctrd.ContainerStatus) {
	name := cur.Labels[ctrd.LabelContainerName]
	c := w.containerSpec(name)
	if c == nil || !c.Stdin || cur.State != ctrd.StateRunning || w.p.streams.get(cur.ID) != nil {
		return
	}
	s, keep, abandon, err := w.openStreams(c, cur.ID, w.dir.Log(name, ctrd.Attempt(cur.Labels)))
	if err == nil {
		var drained func()
		if drained, err = w.p.cfg.Runtime.AttachStreams(ctx, cur.ID, s); err == nil {
			keep(drained)
			return
		}
		abandon()
	}
	log.G(ctx).WithError(err).WithField("container", name).Warn("cannot reattach the container's stdin and output")
}

// closeStdin ends the container's input: the pipe, then the shim's FIFO.
func (s *stdinStream) closeStdin(ctx context.Context, rt containerIO, id string) {
	s.closeOnce.Do(func() {
		s.w.Close()
		if err := rt.CloseStdin(ctx, id); err != nil {
			log.G(ctx).WithError(err).WithField("container", id).Debug("close stdin")
		}
	})
}
