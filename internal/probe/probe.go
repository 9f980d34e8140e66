// Package probe runs the checks and hooks of a pod's containers, as the
// kubelet does: probe handlers (exec, httpGet, tcpSocket, grpc) answer
// healthy or not; lifecycle handlers (exec, httpGet, sleep) run postStart and
// preStop. Network checks dial from inside the pod's network namespace, so
// they need no route from the node to the pod.
package probe

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// maxOutput bounds what a failed check reports of its output.
const maxOutput = 10 * 1024

// Target is the container a check runs against.
type Target struct {
	// PodIP is the default host of network checks.
	PodIP string
	// Ports are the container's ports, for checks that name one.
	Ports []corev1.ContainerPort
	// Dial opens a TCP connection from the pod's network namespace.
	Dial func(ctx context.Context, addr string) (net.Conn, error)
	// Exec runs cmd in the container, writing its output to out, and
	// returns its exit code; it ends the process when ctx ends.
	Exec func(ctx context.Context, cmd []string, out io.Writer) (int, error)
	// UserAgent is sent by HTTP checks ("kube-probe/<version>").
	UserAgent string
}

// Check runs one probe handler with timeout. It returns nil when the
// container is healthy, or why it is not.
func Check(ctx context.Context, h corev1.ProbeHandler, t Target, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	switch {
	case h.Exec != nil:
		return execCheck(ctx, h.Exec.Command, t)
	case h.HTTPGet != nil:
		return httpCheck(ctx, h.HTTPGet, t)
	case h.TCPSocket != nil:
		port, err := resolvePort(h.TCPSocket.Port, t.Ports)
		if err != nil {
			return err
		}
		conn, err := t.Dial(ctx, net.JoinHostPort(hostOr(h.TCPSocket.Host, t.PodIP), strconv.Itoa(port)))
		if err != nil {
			return err
		}
		return conn.Close()
	case h.GRPC != nil:
		return grpcCheck(ctx, h.GRPC, t)
	}
	return errors.New("the probe has no handler")
}

// Run runs one lifecycle handler (postStart or preStop); ctx bounds it.
func Run(ctx context.Context, h *corev1.LifecycleHandler, t Target) error {
	switch {
	case h.Exec != nil:
		return execCheck(ctx, h.Exec.Command, t)
	case h.HTTPGet != nil:
		return httpCheck(ctx, h.HTTPGet, t)
	case h.Sleep != nil:
		select {
		case <-time.After(time.Duration(h.Sleep.Seconds) * time.Second):
		case <-ctx.Done():
		}
		return nil
	case h.TCPSocket != nil:
		// Deprecated and never run by the kubelet either.
		return nil
	}
	return errors.New("the lifecycle handler has no action")
}

func execCheck(ctx context.Context, cmd []string, t Target) error {
	var out bytes.Buffer
	code, err := t.Exec(ctx, cmd, &limitedBuffer{buf: &out, left: maxOutput})
	if ctx.Err() == context.DeadlineExceeded {
		return fmt.Errorf("command %q timed out", strings.Join(cmd, " "))
	}
	if err != nil {
		return err
	}
	if code != 0 {
		msg := strings.TrimSpace(out.String())
		if msg == "" {
			return fmt.Errorf("command %q exited with %d", strings.Join(cmd, " "), code)
		}
		return fmt.Errorf("command %q exited with %d: %s", strings.Join(cmd, " "), code, msg)
	}
	return nil
}

func httpCheck(ctx context.Context, g *corev1.HTTPGetAction, t Target) error {
	port, err := resolvePort(g.Port, t.Ports)
	if err != nil {
		return err
	}
	scheme := strings.ToLower(string(g.Scheme))
	if scheme == "" {
		scheme = "http"
	}
	host := hostOr(g.Host, t.PodIP)
	path := g.Path
	if path != "" && !strings.HasPrefix(path, "/") {
		path = "/" + path
	}
	u, err := url.Parse(fmt.Sprintf("%s://%s%s", scheme, net.JoinHostPort(host, strconv.Itoa(port)), path))
	if err != nil {
		return err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return err
	}
	req.Header.Set("User-Agent", t.UserAgent)
	req.Header.Set("Accept", "*/*")
	for _, h := range g.HTTPHeaders {
		if strings.EqualFold(h.Name, "Host") {
			req.Host = h.Value
			continue
		}
		req.Header.Add(h.Name, h.Value)
	}
	client := &http.Client{
		Transport: &http.Transport{
			DialContext:       func(ctx context.Context, _, addr string) (net.Conn, error) { return t.Dial(ctx, addr) },
			TLSClientConfig:   &tls.Config{InsecureSkipVerify: true}, // as the kubelet: probes check health, not identity
			DisableKeepAlives: true,
		},
		// Redirects are followed on the same host; one to another host
		// counts as success, as on the kubelet.
		CheckRedirect: func(r *http.Request, via []*http.Request) error {
			if r.URL.Hostname() != via[0].URL.Hostname() || len(via) >= 10 {
				return http.ErrUseLastResponse
			}
			return nil
		},
	}
	resp, err := client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, maxOutput))
	if resp.StatusCode >= 200 && resp.StatusCode < 400 {
		return nil
	}
	return fmt.Errorf("HTTP probe failed with statuscode: %d%s", resp.StatusCode, bodySuffix(body))
}

func bodySuffix(body []byte) string {
	if s := strings.TrimSpace(string(body)); s != "" {
		return ": " + s
	}
	return ""
}

func grpcCheck(ctx context.Context, g *corev1.GRPCAction, t Target) error {
	addr := net.JoinHostPort(t.PodIP, strconv.Itoa(int(g.Port)))
	conn, err := grpc.NewClient("passthrough:///"+addr,
		grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithContextDialer(func(ctx context.Context, a string) (net.Conn, error) { return t.Dial(ctx, a) }),
		grpc.WithUserAgent(t.UserAgent),
	)
	if err != nil {
		return err
	}
	defer conn.Close()
	service := ""
	if g.Service != nil {
		service = *g.Service
	}
	resp, err := healthpb.NewHealthClient(conn).Check(ctx, &healthpb.HealthCheckRequest{Service: service})
	if err != nil {
		return fmt.Errorf("gRPC health check to %s: %w", addr, err)
	}
	if resp.GetStatus() != healthpb.HealthCheckResponse_SERVING {
		return fmt.Errorf("service unhealthy (responded with %q)", resp.GetStatus())
	}
	return nil
}

// resolvePort turns a port number or a container port's name into a number.
func resolvePort(p intstr.IntOrString, ports []corev1.ContainerPort) (int, error) {
	if p.Type == intstr.Int {
		if p.IntVal <= 0 || p.IntVal > 65535 {
			return 0, fmt.Errorf("port %d is out of range", p.IntVal)
		}
		return int(p.IntVal), nil
	}
	if n, err := strconv.Atoi(p.StrVal); err == nil {
		return n, nil
	}
	for _, cp := range ports {
		if cp.Name == p.StrVal {
			return int(cp.ContainerPort), nil
		}
	}
	return 0, fmt.Errorf("no container port named %q", p.StrVal)
}

func hostOr(host, podIP string) string {
	if host != "" {
		return host
	}
	return podIP
}

// limitedBuffer keeps the first left bytes and drops the rest.
type limitedBuffer struct {
	buf  *bytes.Buffer
	left int
}

func (l *limitedBuffer) Write(p []byte) (int, error) {
	n := len(p)
	if l.left > 0 {
		k := min(l.left, n)
		l.buf.Write(p[:k])
		l.left -= k
	}
	return n, nil
}
