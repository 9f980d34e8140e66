package provider

import (
	"context"
	"fmt"
	"io"
	"net"
	"strconv"
	"sync"
	"time"

	"github.com/virtual-kubelet/virtual-kubelet/errdefs"
)

// PortForward connects stream to port on the pod's localhost, dialing from
// inside the pod's network namespace: it does not depend on a route to the
// pod IP. Each stream is its own connection; an error ends only that one.
func (p *Pods) PortForward(ctx context.Context, namespace, podName string, port int32, stream io.ReadWriteCloser) error {
	defer stream.Close()
	w := p.worker(namespace, podName)
	if w == nil {
		return errdefs.NotFoundf("pod %s/%s is not on this node", namespace, podName)
	}
	dialCtx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	conn, err := w.dialPod(dialCtx, net.JoinHostPort("127.0.0.1", strconv.Itoa(int(port))))
	if err != nil {
		return fmt.Errorf("port-forward to %s/%s port %d: %w", namespace, podName, port, err)
	}
	defer conn.Close()
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		_, _ = io.Copy(conn, stream)
		if tc, ok := conn.(*net.TCPConn); ok {
			_ = tc.CloseWrite()
		}
	}()
	_, _ = io.Copy(stream, conn)
	_ = stream.Close()
	wg.Wait()
	return nil
}
