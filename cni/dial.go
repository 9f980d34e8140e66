package cni

import (
	"fmt"
	"net"
	"os"
	"runtime"
	"time"

	"golang.org/x/sys/unix"
)

// DialInNamespace opens a TCP connection to addr from inside the network
// namespace pinned at nsPath. Only the socket's creation happens inside: a
// socket keeps the namespace it was made in, so the connection works after
// the thread returns to the agent's own namespace.
func DialInNamespace(nsPath, addr string, timeout time.Duration) (net.Conn, error) {
	type result struct {
		conn net.Conn
		err  error
	}
	done := make(chan result, 1)
	go func() {
		runtime.LockOSThread()
		conn, err := dialIn(nsPath, addr, timeout)
		done <- result{conn, err}
	}()
	r := <-done
	return r.conn, r.err
}

// dialIn runs on a locked thread. If switching back to the agent's namespace
// fails, the thread stays locked and the runtime ends it with the goroutine.
func dialIn(nsPath, addr string, timeout time.Duration) (net.Conn, error) {
	own, err := os.Open(fmt.Sprintf("/proc/self/task/%d/ns/net", unix.Gettid()))
	if err != nil {
		return nil, err
	}
	defer own.Close()
	target, err := os.Open(nsPath)
	if err != nil {
		return nil, fmt.Errorf("open pod network namespace: %w", err)
	}
	defer target.Close()
	if err := unix.Setns(int(target.Fd()), unix.CLONE_NEWNET); err != nil {
		return nil, fmt.Errorf("enter pod network namespace: %w", err)
	}
	conn, dialErr := net.DialTimeout("tcp", addr, timeout)
	if err := unix.Setns(int(own.Fd()), unix.CLONE_NEWNET); err != nil {
		if conn != nil {
			conn.Close()
		}
		return nil, fmt.Errorf("leave pod network namespace: %w", err)
	}
	runtime.UnlockOSThread()
	return conn, dialErr
}
