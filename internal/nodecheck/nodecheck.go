// Package nodecheck proves a node serves what a kubelet node serves: it is
// Ready, a pod bound to it runs, and its log and an exec come back through
// the API server (which reaches the node's kubelet API for both). The chart
// runs it as its `helm test`.
package nodecheck

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/remotecommand"
)

// Check names the node and how to test it.
type Check struct {
	Node      string
	Namespace string // where the test pod runs
	Image     string // has sh, echo and sleep
	Timeout   time.Duration
	Out       io.Writer // one line a step
}

const greeting = "hello from vk-containerd"

// errEnded says the test pod stopped instead of running.
var errEnded = errors.New("the test pod ended")

// Run runs every step of c and returns the first failure.
func Run(ctx context.Context, cfg *rest.Config, client kubernetes.Interface, c Check) error {
	if err := ready(ctx, client, c.Node); err != nil {
		return err
	}
	fmt.Fprintf(c.Out, "node %s is Ready\n", c.Node)
	pod, err := client.CoreV1().Pods(c.Namespace).Create(ctx, testPod(c), metav1.CreateOptions{})
	if err != nil {
		return fmt.Errorf("create the test pod: %w", err)
	}
	defer remove(client, pod, c)
	if err := running(ctx, client, pod, c.Timeout); err != nil {
		return err
	}
	fmt.Fprintf(c.Out, "pod %s/%s runs on %s\n", pod.Namespace, pod.Name, c.Node)
	if err := logs(ctx, client, pod); err != nil {
		return err
	}
	fmt.Fprintln(c.Out, "its log came back through the API server")
	if err := execEcho(ctx, cfg, client, pod); err != nil {
		return err
	}
	fmt.Fprintln(c.Out, "an exec in it came back through the API server")
	return nil
}

func ready(ctx context.Context, client kubernetes.Interface, name string) error {
	n, err := client.CoreV1().Nodes().Get(ctx, name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return fmt.Errorf("node %s is not registered", name)
	}
	if err != nil {
		return fmt.Errorf("node %s: %w", name, err)
	}
	for _, c := range n.Status.Conditions {
		if c.Type == corev1.NodeReady {
			if c.Status == corev1.ConditionTrue {
				return nil
			}
			return fmt.Errorf("node %s is not Ready: %s: %s", name, c.Reason, c.Message)
		}
	}
	return fmt.Errorf("node %s reports no Ready condition", name)
}

func testPod(c Check) *corev1.Pod {
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{GenerateName: "vk-containerd-check-", Namespace: c.Namespace},
		Spec: corev1.PodSpec{
			NodeName:      c.Node,
			RestartPolicy: corev1.RestartPolicyNever,
			Tolerations:   []corev1.Toleration{{Operator: corev1.TolerationOpExists}},
			Containers: []corev1.Container{{
				Name: "check", Image: c.Image,
				Command: []string{"sh", "-c", "echo " + greeting + "; exec sleep 3600"},
			}},
			TerminationGracePeriodSeconds: new(int64),
		},
	}
}

// running waits for the pod's container to run, saying why it does not.
func running(ctx context.Context, client kubernetes.Interface, pod *corev1.Pod, timeout time.Duration) error {
	var last *corev1.Pod
	err := wait.PollUntilContextTimeout(ctx, 500*time.Millisecond, timeout, true, func(ctx context.Context) (bool, error) {
		p, err := client.CoreV1().Pods(pod.Namespace).Get(ctx, pod.Name, metav1.GetOptions{})
		if err != nil {
			return false, err
		}
		last = p
		if p.Status.Phase == corev1.PodFailed || p.Status.Phase == corev1.PodSucceeded {
			return false, fmt.Errorf("%w: %s", errEnded, why(p))
		}
		return p.Status.Phase == corev1.PodRunning, nil
	})
	if err != nil && last != nil && !errors.Is(err, errEnded) {
		return fmt.Errorf("the test pod does not run after %s: %s", timeout, why(last))
	}
	return err
}

// why is what the pod's status says of its container.
func why(p *corev1.Pod) string {
	for _, s := range p.Status.ContainerStatuses {
		switch {
		case s.State.Waiting != nil:
			return fmt.Sprintf("%s: %s", s.State.Waiting.Reason, s.State.Waiting.Message)
		case s.State.Terminated != nil:
			return fmt.Sprintf("%s (exit %d): %s", s.State.Terminated.Reason, s.State.Terminated.ExitCode, s.State.Terminated.Message)
		}
	}
	return fmt.Sprintf("phase %s %s", p.Status.Phase, p.Status.Message)
}

func logs(ctx context.Context, client kubernetes.Interface, pod *corev1.Pod) error {
	var out []byte
	var lastErr error
	err := wait.PollUntilContextTimeout(ctx, 500*time.Millisecond, 30*time.Second, true, func(ctx context.Context) (bool, error) {
		out, lastErr = client.CoreV1().Pods(pod.Namespace).GetLogs(pod.Name, &corev1.PodLogOptions{}).DoRaw(ctx)
		return lastErr == nil && strings.Contains(string(out), greeting), nil
	})
	if err != nil {
		return fmt.Errorf("the test pod's log %q does not hold %q (last error: %v)", out, greeting, lastErr)
	}
	return nil
}

func execEcho(ctx context.Context, cfg *rest.Config, client kubernetes.Interface, pod *corev1.Pod) error {
	req := client.CoreV1().RESTClient().Post().Resource("pods").Namespace(pod.Namespace).Name(pod.Name).SubResource("exec").
		VersionedParams(&corev1.PodExecOptions{Container: "check", Command: []string{"echo", "exec-ok"}, Stdout: true, Stderr: true},
			scheme.ParameterCodec)
	exec, err := remotecommand.NewSPDYExecutor(cfg, "POST", req.URL())
	if err != nil {
		return fmt.Errorf("exec: %w", err)
	}
	var stdout, stderr bytes.Buffer
	execCtx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if err := exec.StreamWithContext(execCtx, remotecommand.StreamOptions{Stdout: &stdout, Stderr: &stderr}); err != nil {
		return fmt.Errorf("exec in the test pod: %w (stderr %q)", err, stderr.String())
	}
	if strings.TrimSpace(stdout.String()) != "exec-ok" {
		return fmt.Errorf("exec in the test pod printed %q, want exec-ok", stdout.String())
	}
	return nil
}

// remove deletes the test pod and waits until the node has torn it down.
func remove(client kubernetes.Interface, pod *corev1.Pod, c Check) {
	ctx, cancel := context.WithTimeout(context.Background(), c.Timeout)
	defer cancel()
	if err := client.CoreV1().Pods(pod.Namespace).Delete(ctx, pod.Name, metav1.DeleteOptions{}); err != nil && !apierrors.IsNotFound(err) {
		fmt.Fprintf(c.Out, "delete the test pod: %v\n", err)
		return
	}
	err := wait.PollUntilContextCancel(ctx, 500*time.Millisecond, true, func(ctx context.Context) (bool, error) {
		_, err := client.CoreV1().Pods(pod.Namespace).Get(ctx, pod.Name, metav1.GetOptions{})
		return apierrors.IsNotFound(err), nil
	})
	if err != nil {
		fmt.Fprintf(c.Out, "the test pod %s was not gone within %s\n", pod.Name, c.Timeout)
		return
	}
	fmt.Fprintln(c.Out, "the test pod is gone")
}
