package ctrd

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"sync"
	"syscall"
	"time"

	"github.com/containerd/containerd/v2/client"
	"github.com/containerd/containerd/v2/pkg/cio"
	"github.com/opencontainers/runtime-spec/specs-go"
)

// initialSizeWait is how long an exec with a TTY waits for the client's
// terminal size before it starts without one.
const initialSizeWait = 500 * time.Millisecond

// ExecIO are the streams and terminal of an exec session.
type ExecIO struct {
	Stdin          io.Reader // nil: no stdin
	Stdout, Stderr io.Writer // Stderr is unused with a TTY
	TTY            bool
	Resize         <-chan [2]uint16 // width, height
}

// Exec runs args in the running container id, with the container's own
// environment, user and working directory, and returns its exit code. When
// ctx ends (the client went away) the process is killed and every stream
// and goroutine of the session ends.
func (r *Runtime) Exec(ctx context.Context, id string, args []string, eio ExecIO) (int, error) {
	c, err := r.client.LoadContainer(ctx, id)
	if err != nil {
		return 0, err
	}
	spec, err := c.Spec(ctx)
	if err != nil {
		return 0, err
	}
	task, err := c.Task(ctx, nil)
	if err != nil {
		return 0, fmt.Errorf("container %s is not running: %w", id, err)
	}
	pspec := *spec.Process
	pspec.Args = args
	pspec.Terminal = eio.TTY
	if eio.TTY {
		if err := waitInitialSize(ctx, &pspec, eio.Resize); err != nil {
			return 0, err
		}
	}
	// The shim holds the stdin FIFO open for writing too, so the end of the
	// client's input reaches the process only through CloseIO.
	stdinDone := make(chan struct{})
	stdin := eio.Stdin
	if stdin != nil {
		stdin = &eofNotifier{r: stdin, done: stdinDone}
	}
	opts := []cio.Opt{cio.WithStreams(stdin, eio.Stdout, eio.Stderr)}
	if eio.TTY {
		opts = append(opts, cio.WithTerminal)
	}
	if r.fifoDir != "" {
		opts = append(opts, cio.WithFIFODir(r.fifoDir))
	}
	execID, err := newExecID()
	if err != nil {
		return 0, err
	}
	// The process outlives a cancelled request just long enough to be killed.
	bg := context.WithoutCancel(ctx)
	process, err := task.Exec(bg, execID, &pspec, cio.NewCreator(opts...))
	if err != nil {
		return 0, err
	}
	defer func() {
		if _, err := process.Delete(bg, client.WithProcessKill); err != nil && process.IO() != nil {
			process.IO().Cancel()
		}
	}()
	exited, err := process.Wait(bg)
	if err != nil {
		return 0, err
	}
	if err := process.Start(bg); err != nil {
		return 0, fmt.Errorf("start %v: %w", args, err)
	}
	return serveExec(ctx, bg, process, exited, stdinDone, eio.Resize)
}

// waitInitialSize starts the process with the client's terminal size, which
// the client sends first thing: a program that reads it at once (stty, top)
// would otherwise see an empty terminal.
func waitInitialSize(ctx context.Context, pspec *specs.Process, resize <-chan [2]uint16) error {
	select {
	case size, ok := <-resize:
		if ok {
			pspec.ConsoleSize = &specs.Box{Width: uint(size[0]), Height: uint(size[1])}
		}
	case <-time.After(initialSizeWait):
	case <-ctx.Done():
		return ctx.Err()
	}
	return nil
}

// serveExec passes the end of stdin and terminal resizes to a started exec
// process until it exits, and kills it when ctx (the client) ends.
func serveExec(ctx, bg context.Context, process client.Process, exited <-chan client.ExitStatus, stdinDone chan struct{}, resize <-chan [2]uint16) (int, error) {
	for {
		select {
		case <-stdinDone:
			stdinDone = nil
			_ = process.CloseIO(bg, client.WithStdinCloser)
		case size, ok := <-resize:
			if !ok {
				resize = nil
				continue
			}
			_ = process.Resize(bg, uint32(size[0]), uint32(size[1]))
		case <-ctx.Done():
			_ = process.Kill(bg, syscall.SIGKILL)
			select {
			case <-exited:
			case <-time.After(10 * time.Second):
			}
			return 0, ctx.Err()
		case st := <-exited:
			code, _, err := st.Result()
			// Drain what the process wrote before it exited.
			process.IO().Wait()
			return int(code), err
		}
	}
}

func newExecID() (string, error) {
	b := make([]byte, 8)
	if _, err := rand.Read(b); err != nil {
		return "", err
	}
	return "exec-" + hex.EncodeToString(b), nil
}

// eofNotifier closes done when its reader reaches the end.
type eofNotifier struct {
	r    io.Reader
	done chan struct{}
	once sync.Once
}

func (e *eofNotifier) Read(p []byte) (int, error) {
	n, err := e.r.Read(p)
	if err != nil {
		e.once.Do(func() { close(e.done) })
	}
	return n, err
}
