// Package kubeletapi serves the node's kubelet API on port 10250: health,
// pods, container logs, exec, attach, port-forward and stats, over TLS, with
// the kubelet's authentication and authorization.
package kubeletapi

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"syscall"
	"time"

	"github.com/gorilla/mux"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/virtual-kubelet/virtual-kubelet/node/api"
	"github.com/virtual-kubelet/virtual-kubelet/node/nodeutil"
	"k8s.io/apiserver/pkg/server/dynamiccertificates"
	"k8s.io/client-go/kubernetes"
)

// StreamIdleTimeout is how long an exec, attach or port-forward stream may be
// idle, the kubelet's default (the library's default is 30 s).
const StreamIdleTimeout = 4 * time.Hour

// StreamCreationTimeout is how long a client has to open its streams.
const StreamCreationTimeout = 30 * time.Second

// Config says how the kubelet API is served.
type Config struct {
	// Addr is the listen address, host:port.
	Addr string
	// Certificate is the serving certificate, unless CurrentCertificate is set.
	Certificate tls.Certificate
	// CurrentCertificate, when set, returns the serving certificate of the
	// moment (one that is renewed); nil while there is none.
	CurrentCertificate func() *tls.Certificate
	// ClientCAFile, when set, enables authentication by client certificates
	// signed by these CAs (the API server's kubelet client certificate).
	ClientCAFile string
	// NodeName is the node's name, the object of authorization checks.
	NodeName string
	// Client is used for TokenReview and SubjectAccessReview.
	Client kubernetes.Interface
	// Pods routes the pod endpoints; routes whose function is nil answer 501.
	Pods api.PodHandlerConfig
	// ProbeMetrics and CadvisorMetrics serve /metrics/probes and
	// /metrics/cadvisor; nil: not served.
	ProbeMetrics, CadvisorMetrics http.Handler
}

// Server is the kubelet API server.
type Server struct {
	cfg     Config
	handler http.Handler
}

// New builds the server's handler: /healthz is open to anyone, as on the
// kubelet; every other path needs an authenticated and authorized caller.
func New(cfg Config) (*Server, error) {
	var opts []nodeutil.WebhookAuthOption
	if cfg.ClientCAFile != "" {
		if _, err := os.Stat(cfg.ClientCAFile); err != nil {
			return nil, fmt.Errorf("--client-ca-file: %w", err)
		}
		ca, err := dynamiccertificates.NewDynamicCAContentFromFile("client-ca", cfg.ClientCAFile)
		if err != nil {
			return nil, fmt.Errorf("--client-ca-file %s: %w", cfg.ClientCAFile, err)
		}
		opts = append(opts, func(c *nodeutil.WebhookAuthConfig) error {
			c.AuthnConfig.ClientCertificateCAContentProvider = ca
			return nil
		})
	}
	auth, err := nodeutil.WebhookAuth(cfg.Client, cfg.NodeName, opts...)
	if err != nil {
		return nil, fmt.Errorf("kubelet API authentication: %w", err)
	}
	pods := cfg.Pods
	pods.StreamIdleTimeout = StreamIdleTimeout
	pods.StreamCreationTimeout = StreamCreationTimeout

	mux := http.NewServeMux()
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain")
		_, _ = w.Write([]byte("ok"))
	})
	mux.Handle("/", nodeutil.WithAuth(auth, routes(pods, map[string]http.Handler{"/metrics/probes": cfg.ProbeMetrics, "/metrics/cadvisor": cfg.CadvisorMetrics})))
	return &Server{cfg: cfg, handler: mux}, nil
}

// Handler returns the server's HTTP handler.
func (s *Server) Handler() http.Handler { return s.handler }

// Listen opens the TLS listener, so that a port in use fails the agent's start.
func (s *Server) Listen() (net.Listener, error) {
	tlsCfg := &tls.Config{
		MinVersion: tls.VersionTLS12,
		// Client certificates are verified by the authenticator against the
		// client CA; the handshake only asks for them.
		ClientAuth: tls.RequestClientCert,
	}
	if current := s.cfg.CurrentCertificate; current != nil {
		tlsCfg.GetCertificate = func(*tls.ClientHelloInfo) (*tls.Certificate, error) {
			if c := current(); c != nil {
				return c, nil
			}
			return nil, errors.New("no serving certificate yet: its CertificateSigningRequest is not approved")
		}
	} else {
		tlsCfg.Certificates = []tls.Certificate{s.cfg.Certificate}
	}
	l, err := net.Listen("tcp", s.cfg.Addr)
	if errors.Is(err, syscall.EADDRINUSE) {
		return nil, fmt.Errorf("kubelet API: %s is taken (a kubelet on this host listens on 10250): choose another --port", s.cfg.Addr)
	}
	if err != nil {
		return nil, fmt.Errorf("kubelet API: listen on %s: %w", s.cfg.Addr, err)
	}
	return tls.NewListener(l, tlsCfg), nil
}

// Serve serves on l until ctx ends.
func (s *Server) Serve(ctx context.Context, l net.Listener) error {
	srv := &http.Server{Handler: s.handler, ReadHeaderTimeout: 30 * time.Second}
	go func() {
		<-ctx.Done()
		shutdown, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(shutdown)
	}()
	if err := srv.Serve(l); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("kubelet API: %w", err)
	}
	return nil
}

// routes is the library's pod handler, with port-forward routed here: the
// library's PodHandler swaps port-forward's idle and creation timeouts, which
// would end an idle port-forward after 30 s instead of 4 h.
func routes(pods api.PodHandlerConfig, metrics map[string]http.Handler) http.Handler {
	r := mux.NewRouter()
	if pods.PortForward != nil {
		r.HandleFunc("/portForward/{namespace}/{pod}", api.HandlePortForward(pods.PortForward,
			api.WithPortForwardStreamIdleTimeout(pods.StreamIdleTimeout),
			api.WithPortForwardCreationTimeout(pods.StreamCreationTimeout),
		)).Methods("POST", "GET")
	}
	// The agent's own metrics (Go runtime and process), where a kubelet
	// serves its metrics.
	r.Handle("/metrics", promhttp.Handler()).Methods("GET")
	for path, h := range metrics {
		if h != nil {
			r.Handle(path, h).Methods("GET")
		}
	}
	r.NotFoundHandler = api.PodHandler(pods, false)
	return r
}
