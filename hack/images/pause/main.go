// Command pause is the sandbox image's program for a CRI runtime (a kubelet
// node's containerd): it holds the pod's namespaces and does nothing else. It
// exits on SIGTERM or SIGINT, and as PID 1 of a pod that shares its process
// namespace it reaps the orphans it inherits.
package main

import (
	"os"
	"os/signal"
	"syscall"
)

func main() {
	sigs := make(chan os.Signal, 8)
	signal.Notify(sigs, syscall.SIGTERM, syscall.SIGINT, syscall.SIGCHLD)
	for sig := range sigs {
		if sig != syscall.SIGCHLD {
			os.Exit(0)
		}
		for {
			pid, err := syscall.Wait4(-1, nil, syscall.WNOHANG, nil)
			if pid <= 0 || err != nil {
				break
			}
		}
	}
}
