package main

import (
	"context"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/spf13/pflag"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
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
	selector := fs.String("selector", "", "Label selector of the nodes to check, instead of --node; at least one must match.")
	fs.StringVar(&c.Namespace, "namespace", "default", "Namespace of the test pod.")
	fs.StringVar(&c.Image, "image", "", "Image of the test pod, with sh, echo and sleep.")
	fs.DurationVar(&c.Timeout, "timeout", 2*time.Minute, "How long the test pod may take to start and to go.")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if (c.Node == "") == (*selector == "") || c.Image == "" {
		return fmt.Errorf("check-node needs --image and one of --node and --selector")
	}
	cfg, err := restConfig(*kubeconfig)
	if err != nil {
		return err
	}
	client, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return err
	}
	nodes := []string{c.Node}
	if *selector != "" {
		list, err := client.CoreV1().Nodes().List(ctx, metav1.ListOptions{LabelSelector: *selector})
		if err != nil {
			return fmt.Errorf("list the nodes %s: %w", *selector, err)
		}
		if len(list.Items) == 0 {
			return fmt.Errorf("no node matches %s: no agent has registered", *selector)
		}
		nodes = nodes[:0]
		for _, n := range list.Items {
			nodes = append(nodes, n.Name)
		}
	}
	for _, n := range nodes {
		c.Node = n
		if err := nodecheck.Run(ctx, cfg, client, c); err != nil {
			return err
		}
	}
	return nil
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
