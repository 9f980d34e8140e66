package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/portforward"
	"k8s.io/client-go/transport/spdy"
)

// Throughput compares reading a blob through port-forward with reading it
// straight from the pod IP.
type Throughput struct {
	Bytes                int64   `json:"bytes"`
	PortForwardMBPerSec  float64 `json:"port_forward_mb_per_s"`
	DirectMBPerSec       float64 `json:"direct_mb_per_s"`
	PortForwardSeconds   float64 `json:"port_forward_s"`
	DirectToPodIPSeconds float64 `json:"direct_s"`
}

// measurePortForward starts a pod that serves size MiB of random data over
// HTTP on port 9000 (busybox httpd), then reads it through the API server's
// port-forward and from the pod IP.
func measurePortForward(ctx context.Context, cfg *rest.Config, cs kubernetes.Interface, ns, node, image string, size int) Throughput {
	name := fmt.Sprintf("bench-pf-%d", time.Now().UnixNano())
	script := fmt.Sprintf("mkdir /tmp/www && dd if=/dev/urandom of=/tmp/www/blob bs=1M count=%d 2>/dev/null && touch /tmp/www/ready && exec httpd -f -p 9000 -h /tmp/www", size)
	grace := int64(2)
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: corev1.PodSpec{NodeName: node, TerminationGracePeriodSeconds: &grace, Containers: []corev1.Container{{
			Name: "c", Image: image, ImagePullPolicy: corev1.PullIfNotPresent, Command: []string{"sh", "-c", script},
		}}},
	}
	_, err := cs.CoreV1().Pods(ns).Create(ctx, pod, metav1.CreateOptions{})
	check(err)
	defer func() { _ = cs.CoreV1().Pods(ns).Delete(context.Background(), name, metav1.DeleteOptions{}) }()
	var ip string
	for i := 0; i < 300 && ip == ""; i++ {
		p, err := cs.CoreV1().Pods(ns).Get(ctx, name, metav1.GetOptions{})
		check(err)
		if isReady(p) {
			ip = p.Status.PodIP
		} else {
			time.Sleep(100 * time.Millisecond)
		}
	}
	if ip == "" {
		check(fmt.Errorf("port-forward pod never became Ready"))
	}

	// Wait for the blob (from the node, straight to the pod) before
	// forwarding: client-go ends a forward whose first dial is refused.
	waitReady(net.JoinHostPort(ip, "9000"))
	transport, upgrader, err := spdy.RoundTripperFor(cfg)
	check(err)
	u, err := url.Parse(cfg.Host + fmt.Sprintf("/api/v1/namespaces/%s/pods/%s/portforward", ns, name))
	check(err)
	dialer := spdy.NewDialer(upgrader, &http.Client{Transport: transport}, http.MethodPost, u)
	stop, ready := make(chan struct{}), make(chan struct{})
	fw, err := portforward.NewOnAddresses(dialer, []string{"127.0.0.1"}, []string{"0:9000"}, stop, ready, io.Discard, os.Stderr)
	check(err)
	go func() { check(fw.ForwardPorts()) }()
	<-ready
	ports, err := fw.GetPorts()
	check(err)
	local := fmt.Sprintf("127.0.0.1:%d", ports[0].Local)
	// Two rounds, alternating, keeping the faster of each: the first read
	// of a round may pay for warming up.
	t := Throughput{PortForwardSeconds: 1e9, DirectToPodIPSeconds: 1e9}
	for round := 0; round < 2; round++ {
		n, d := readAll(local)
		t.Bytes, t.PortForwardSeconds = n, min(t.PortForwardSeconds, d.Seconds())
		_, d = readAll(net.JoinHostPort(ip, "9000"))
		t.DirectToPodIPSeconds = min(t.DirectToPodIPSeconds, d.Seconds())
	}
	close(stop)
	mb := float64(t.Bytes) / (1 << 20)
	t.PortForwardMBPerSec, t.DirectMBPerSec = mb/t.PortForwardSeconds, mb/t.DirectToPodIPSeconds
	return t
}

// waitReady waits until the pod has written the blob.
func waitReady(addr string) {
	hc := &http.Client{Timeout: 2 * time.Second}
	for i := 0; i < 600; i++ {
		if resp, err := hc.Get("http://" + addr + "/ready"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				break
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// readAll fetches the blob from the server at addr.
func readAll(addr string) (int64, time.Duration) {
	hc := &http.Client{Timeout: 5 * time.Minute}
	start := time.Now()
	resp, err := hc.Get("http://" + addr + "/blob")
	check(err)
	defer resp.Body.Close()
	n, err := io.Copy(io.Discard, resp.Body)
	check(err)
	return n, time.Since(start)
}
