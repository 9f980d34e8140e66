package main

import (
	"context"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/spf13/pflag"
	"k8s.io/client-go/kubernetes"

	"github.com/vk-containerd/vk-containerd/internal/nodecheck"
	"github.com/vk-containerd/vk-containerd/internal/uninstall"
)

// commands are what the binary does besides running a node: the chart's
// test and its uninstall step, run from the agent's own image.
var commands = map[string]func(ctx context.Context, args []string) error{
	"check-node":   checkNode,
	"remove-nodes": removeNodes,
}

func checkNode(ctx context.Context, args []string) error {
	fs := pflag.NewFlagSet("check-node", pflag.ContinueOnError)
	kubeconfig := fs.String("kubeconfig", "", "Kubeconfig. Empty: the in-cluster configuration.")
	c := nodecheck.Check{Out: os.Stdout}
	fs.StringVar(&c.Node, "node", "", "Node to check.")
	fs.StringVar(&c.Namespace, "namespace", "default", "Namespace of the test pod.")
	fs.StringVar(&c.Image, "image", "", "Image of the test pod, with sh, echo and sleep.")
	fs.DurationVar(&c.Timeout, "timeout", 2*time.Minute, "How long the test pod may take to start and to go.")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if c.Node == "" || c.Image == "" {
		return fmt.Errorf("check-node needs --node and --image")
	}
	cfg, err := restConfig(*kubeconfig)
	if err != nil {
		return err
	}
	client, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return err
	}
	return nodecheck.Run(ctx, cfg, client, c)
}

func removeNodes(ctx context.Context, args []string) error {
	fs := pflag.NewFlagSet("remove-nodes", pflag.ContinueOnError)
	kubeconfig := fs.String("kubeconfig", "", "Kubeconfig. Empty: the in-cluster configuration.")
	p := uninstall.Plan{Out: os.Stdout}
	fs.StringVar(&p.NodeSelector, "selector", "", "Label selector of the nodes to remove.")
	daemonSet := fs.String("daemonset", "", "The agents' DaemonSet, as namespace/name.")
	fs.DurationVar(&p.Timeout, "timeout", 5*time.Minute, "How long each step may take.")
	if err := fs.Parse(args); err != nil {
		return err
	}
	var ok bool
	if p.Namespace, p.DaemonSet, ok = strings.Cut(*daemonSet, "/"); !ok || p.NodeSelector == "" {
		return fmt.Errorf("remove-nodes needs --selector and --daemonset namespace/name")
	}
	client, err := NewClient(ctx, *kubeconfig)
	if err != nil {
		return err
	}
	return uninstall.Run(ctx, client, p)
}
