// Command vk-containerd is a Kubernetes node agent: it registers a node
// through virtual-kubelet and runs the pods bound to it as containerd
// containers in CNI network namespaces.
package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"runtime"
	"syscall"

	"github.com/spf13/pflag"

	"github.com/vk-containerd/vk-containerd/internal/crilog"
	"github.com/vk-containerd/vk-containerd/internal/version"
)

// init keeps the main goroutine on the main thread, so that no other
// goroutine runs there. A goroutine that unshares a pod's namespaces ends
// its thread when it returns, but the Go runtime cannot end the main
// thread: it would park it in the pod's namespaces, and /proc/<agent>/ns/net
// (what nsenter -t and the node's scripts read) would name a pod's network.
func init() { runtime.LockOSThread() }

func main() {
	// The shim runs this binary as the log driver of each container.
	if len(os.Args) == 3 && os.Args[1] == crilog.DriverArg {
		crilog.RunDriver(os.Args[2])
		return
	}
	if len(os.Args) > 1 {
		if command, ok := commands[os.Args[1]]; ok {
			os.Exit(runCommand(os.Args[1], command, os.Args[2:]))
		}
	}
	os.Exit(run(os.Args[1:]))
}

func runCommand(name string, command func(context.Context, []string) error, args []string) int {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	err := command(ctx, args)
	if errors.Is(err, pflag.ErrHelp) {
		return 0
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "vk-containerd %s: %v\n", name, err)
		return 1
	}
	return 0
}

func run(args []string) int {
	opts, err := parseFlags(args)
	if errors.Is(err, pflag.ErrHelp) {
		return 0
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "vk-containerd: %v (see vk-containerd --help)\n", err)
		return 2
	}
	if opts.showVersion {
		fmt.Println(version.Component, version.Version)
		return 0
	}
	setupLogging(opts.verbosity)
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	if err := Run(ctx, opts.config); err != nil {
		fmt.Fprintf(os.Stderr, "vk-containerd: %v\n", err)
		return 1
	}
	return 0
}
