package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/containernetworking/cni/libcni"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/virtual-kubelet/virtual-kubelet/log"
	"github.com/virtual-kubelet/virtual-kubelet/node"
	"github.com/virtual-kubelet/virtual-kubelet/node/api"
	"github.com/virtual-kubelet/virtual-kubelet/node/nodeutil"
	"golang.org/x/time/rate"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/informers"
	corev1informers "k8s.io/client-go/informers/core/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/scheme"
	corev1client "k8s.io/client-go/kubernetes/typed/core/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/record"
	"k8s.io/client-go/util/workqueue"

	"github.com/vk-containerd/vk-containerd/cni"
	"github.com/vk-containerd/vk-containerd/internal/crilog"
	"github.com/vk-containerd/vk-containerd/internal/ctrd"
	"github.com/vk-containerd/vk-containerd/internal/hostinfo"
	"github.com/vk-containerd/vk-containerd/internal/hostroot"
	"github.com/vk-containerd/vk-containerd/internal/kubeletapi"
	"github.com/vk-containerd/vk-containerd/internal/poddir"
	"github.com/vk-containerd/vk-containerd/internal/poddns"
	"github.com/vk-containerd/vk-containerd/internal/pressure"
	"github.com/vk-containerd/vk-containerd/internal/sandbox"
	"github.com/vk-containerd/vk-containerd/internal/version"
	"github.com/vk-containerd/vk-containerd/provider"
)

// podResync is how often the pod informer replays every pod. The provider
// returns pods exactly as given, so a replay costs a comparison per pod.
const podResync = 10 * time.Minute

// Run registers the node and runs it until ctx ends or a controller fails.
// Every error it returns before the node starts says what is wrong and which
// flag fixes it.
func Run(ctx context.Context, cfg Config) error {
	if cfg.BootstrapKubeconfig != "" && cfg.Kubeconfig == "" {
		cfg.Kubeconfig = filepath.Join(cfg.RootDir, "kubeconfig")
	}
	if err := cfg.Validate(); err != nil {
		return err
	}
	if err := os.MkdirAll(cfg.RootDir, 0o750); err != nil {
		return fmt.Errorf("--root-dir: %w", err)
	}
	client, stopIdentity, err := connectAPI(ctx, cfg)
	if err != nil {
		return err
	}
	defer stopIdentity()
	registered := false
	err = startNode(ctx, cfg, client, &registered)
	if err != nil && !registered {
		reportSetupFailure(client, cfg.NodeName, err)
	}
	if err == nil && ctx.Err() != nil {
		leaveHost(client, cfg)
	}
	return err
}

// startNode starts the node on the API client; *registered turns true once the
// node object is up.
func startNode(ctx context.Context, cfg Config, client kubernetes.Interface, registered *bool) error {
	rt, err := ctrd.Connect(cfg.ContainerdAddress, cfg.ContainerdNamespace)
	if err != nil {
		return err
	}
	defer rt.Close()
	rt.SetExecFIFODir(filepath.Join(cfg.RootDir, "fifo"))
	if n, err := hostroot.DetachCopies(hostRoot(cfg.HostRootDir), cfg.RootDir); err != nil {
		return err
	} else if n > 0 {
		log.G(ctx).WithField("mounts", n).Info("unmounted the copies of the pods' mounts that came with the host's / into the agent's container")
	}
	nodeIP := cfg.NodeIP
	if nodeIP == nil {
		if nodeIP, err = DetectNodeIP(cfg.NodeName); err != nil {
			return err
		}
	}
	nodeObj, resources, err := nodeObject(cfg, nodeIP)
	if err != nil {
		return err
	}
	disk := pressure.NewDisk(func() (pressure.FS, error) { return pressure.Statfs(cfg.RootDir) }, cfg.EvictionPressureTransitionPeriod)
	nodeStatus := provider.NewNodeStatus(ctx, nodeObj, rt, disk)

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	broadcaster := record.NewBroadcaster()
	broadcaster.StartRecordingToSink(&corev1client.EventSinkImpl{Interface: client.CoreV1().Events(corev1.NamespaceAll)})
	defer broadcaster.Shutdown()
	recorder := broadcaster.NewRecorder(scheme.Scheme, corev1.EventSource{Component: "kubelet", Host: cfg.NodeName})

	netList, err := podNetwork(ctx, cfg, client, nodeStatus.Node())
	if err != nil {
		return err
	}
	pods, err := newPods(ctx, cfg, client, rt, recorder, netList, nodeIP, resources, nodeObj.Status.Allocatable, disk)
	if err != nil {
		return err
	}
	// The kubelet's running pods and containers gauges, on /metrics.
	prometheus.MustRegister(pods.RunningCollector())
	// Deletions in progress when the agent stops still wait for exits.
	go pods.WatchExits(pods.DrainContext())
	podInformers := informers.NewSharedInformerFactoryWithOptions(client, podResync, nodeutil.PodInformerFilter(cfg.NodeName))
	podInformer := podInformers.Core().V1().Pods()
	if _, err := podInformer.Informer().AddEventHandler(followAPIPods(ctx, pods)); err != nil {
		return fmt.Errorf("pod informer: %w", err)
	}
	pc, err := newPodController(client, podInformer, recorder, pods)
	if err != nil {
		return err
	}
	nc, err := node.NewNodeController(nodeStatus, nodeStatus.Node(), client.CoreV1().Nodes(),
		node.WithNodeEnableLeaseV1(nodeutil.NodeLeaseV1Client(client), node.DefaultLeaseDuration),
		node.WithNodeStatusUpdateErrorHandler(recreateDeletedNode(client, nodeStatus)),
	)
	if err != nil {
		return fmt.Errorf("node controller: %w", err)
	}
	srv, stopCerts, err := kubeletAPI(cfg, client, nodeIP, pods, podInformer)
	if err != nil {
		return err
	}
	defer stopCerts()
	listener, err := srv.Listen()
	if err != nil {
		return err
	}

	errc := make(chan error, 3)
	go func() { errc <- srv.Serve(ctx, listener) }()
	podInformers.Start(ctx.Done())
	go func() { errc <- pc.Run(ctx, cfg.PodWorkers) }()
	err = runNode(ctx, cfg, nodeIP, pods, podInformer, pc, nc, errc, registered)
	if ctx.Err() != nil {
		pods.WaitForDeletions()
	}
	return err
}

// nodeObject builds the node the agent registers, from cfg and the host.
func nodeObject(cfg Config, nodeIP net.IP) (*corev1.Node, hostinfo.Resources, error) {
	taints, err := provider.ParseTaints(cfg.RegisterWithTaints)
	if err != nil {
		return nil, hostinfo.Resources{}, fmt.Errorf("--register-with-taints: %w", err)
	}
	resources, err := hostinfo.ReadResources(cfg.RootDir)
	if err != nil {
		return nil, hostinfo.Resources{}, err
	}
	hostname, _ := os.Hostname()
	return provider.NewNodeObject(provider.NodeConfig{
		Name:           cfg.NodeName,
		InternalIP:     nodeIP,
		Hostname:       hostnameOr(hostname, cfg.NodeName),
		Port:           int32(cfg.Port),
		MaxPods:        cfg.MaxPods,
		Labels:         cfg.NodeLabels,
		Taints:         taints,
		Resources:      resources,
		Identity:       hostinfo.ReadIdentity(),
		KubeletVersion: version.Version,
	}), resources, nil
}

// newPods is the pod provider on containerd, the CNI network netList and
// the pod directories under the root directory.
func newPods(ctx context.Context, cfg Config, client kubernetes.Interface, rt *ctrd.Runtime, recorder record.EventRecorder,
	netList *libcni.NetworkConfigList, nodeIP net.IP, resources hostinfo.Resources, allocatable corev1.ResourceList, disk *pressure.Disk) (*provider.Pods, error) {
	network := cni.NewNetwork(netList, cfg.CNIBinDirs, filepath.Join(cfg.RootDir, "cni-cache"))
	self, err := os.Executable()
	if err != nil {
		return nil, fmt.Errorf("find the agent's own binary (the containers' log driver): %w", err)
	}
	logDriver, err := crilog.InstallDriver(self, filepath.Join(cfg.RootDir, "bin"))
	if err != nil {
		return nil, err
	}
	podDirs := poddir.Root(filepath.Join(cfg.RootDir, "pods"))
	sandboxes := sandbox.NewManager(podDirs, network, poddns.Config{
		ClusterDNS: cfg.ClusterDNS, ClusterDomain: cfg.ClusterDomain, HostResolvConf: cfg.ResolvConf,
	})
	return provider.NewPods(ctx, provider.PodsConfig{
		LogDriver:    logDriver,
		LogMaxSize:   cfg.ContainerLogMaxSize,
		LogMaxFiles:  cfg.ContainerLogMaxFiles,
		SeccompRoot:  filepath.Join(cfg.RootDir, "seccomp"),
		BootTime:     hostinfo.BootTime(),
		NodeName:     cfg.NodeName,
		HostIP:       nodeIP,
		HostNetNS:    cfg.HostNetworkNamespace,
		NodeMemory:   resources.MemoryBytes,
		Allocatable:  allocatable.DeepCopy(),
		Runtime:      rt,
		Images:       ctrd.NewImages(rt, cfg.RegistryConfigDir),
		Sandboxes:    sandboxes,
		PodDirs:      podDirs,
		Client:       client,
		Recorder:     recorder,
		DiskPressure: disk.Under,
		HostRoot:     hostRoot(cfg.HostRootDir),
	}), nil
}

// newPodController is virtual-kubelet's pod controller over the pods bound
// to the node.
func newPodController(client kubernetes.Interface, podInformer corev1informers.PodInformer, recorder record.EventRecorder, pods *provider.Pods) (*node.PodController, error) {
	// The pod controller insists on Secret, ConfigMap and Service informers for
	// its own environment resolution, which the agent turns off
	// (SkipDownwardAPIResolution). This factory is never started, so the node
	// never watches those cluster-wide kinds.
	unused := informers.NewSharedInformerFactory(client, 0)
	pc, err := node.NewPodController(node.PodControllerConfig{
		PodClient:                 client.CoreV1(),
		PodInformer:               podInformer,
		EventRecorder:             recorder,
		Provider:                  pods,
		ConfigMapInformer:         unused.Core().V1().ConfigMaps(),
		SecretInformer:            unused.Core().V1().Secrets(),
		ServiceInformer:           unused.Core().V1().Services(),
		SkipDownwardAPIResolution: true,
		// The library's default limiter lets 10 items a second through each
		// queue; a burst of pods then waits on it, not on the node.
		SyncPodsFromKubernetesRateLimiter:    queueRateLimiter(),
		SyncPodStatusFromProviderRateLimiter: queueRateLimiter(),
		DeletePodsFromKubernetesRateLimiter:  queueRateLimiter(),
	})
	if err != nil {
		return nil, fmt.Errorf("pod controller: %w", err)
	}
	return pc, nil
}

// kubeletAPI is the node's kubelet API server, with its serving
// certificate from the files given or, rotated, from the cluster; stop ends
// the rotation.
func kubeletAPI(cfg Config, client kubernetes.Interface, nodeIP net.IP, pods *provider.Pods, podInformer corev1informers.PodInformer) (_ *kubeletapi.Server, stop func(), err error) {
	apiCfg := kubeletapi.Config{
		ProbeMetrics:    pods.ProbeMetrics(),
		CadvisorMetrics: pods.CadvisorMetrics(),
		Addr:            net.JoinHostPort(cfg.Address, strconv.Itoa(cfg.Port)),
		ClientCAFile:    cfg.ClientCAFile,
		NodeName:        cfg.NodeName,
		Client:          client,
		Pods: api.PodHandlerConfig{
			GetPods:            pods.GetPods,
			GetContainerLogs:   pods.GetContainerLogs,
			RunInContainer:     pods.RunInContainer,
			AttachToContainer:  pods.AttachToContainer,
			PortForward:        pods.PortForward,
			GetStatsSummary:    pods.GetStatsSummary,
			GetMetricsResource: pods.GetMetricsResource,
			GetPodsFromKubernetes: func(context.Context) ([]*corev1.Pod, error) {
				return podInformer.Lister().List(labels.Everything())
			},
		},
	}
	stop = func() {}
	if cfg.RotateServerCertificates {
		certs, err := kubeletapi.ServingCertificates(client, cfg.NodeName, []net.IP{nodeIP}, cfg.certDir())
		if err != nil {
			return nil, nil, err
		}
		certs.Start()
		stop = certs.Stop
		apiCfg.CurrentCertificate = certs.Current
	} else if apiCfg.Certificate, err = kubeletapi.LoadServingCertificate(cfg.TLSCertFile, cfg.TLSPrivateKeyFile, cfg.NodeName, []net.IP{nodeIP}); err != nil {
		return nil, nil, err
	}
	srv, err := kubeletapi.New(apiCfg)
	if err != nil {
		stop()
		return nil, nil, err
	}
	return srv, stop, nil
}

// runNode waits for the pod controller, cleans up after pods that are gone,
// registers the node, and then runs until ctx ends or a component sends
// its end on errc.
func runNode(ctx context.Context, cfg Config, nodeIP net.IP, pods *provider.Pods, podInformer corev1informers.PodInformer,
	pc *node.PodController, nc *node.NodeController, errc chan error, registered *bool) error {
	select {
	case <-pc.Ready():
	case <-pc.Done():
		return fmt.Errorf("pod controller: %w", pc.Err())
	case <-ctx.Done():
		return nil
	}
	// Pods that ended before the agent started get a worker, which releases
	// them at deletion; pods deleted while the agent was down left
	// containers and sandboxes that no pod of the node owns now.
	bound := map[types.UID]bool{}
	if all, err := podInformer.Lister().List(labels.Everything()); err == nil {
		for _, p := range all {
			bound[p.UID] = true
			pods.AdoptTerminal(p)
		}
	}
	if err := pods.CollectOrphans(ctx, func(uid types.UID) bool { return bound[uid] }); err != nil {
		log.G(ctx).WithError(err).Warn("cleaning up after pods that are gone")
	}
	go func() { errc <- nc.Run(ctx) }()
	select {
	case <-nc.Ready():
		*registered = true
		log.G(ctx).WithField("node", cfg.NodeName).WithField("internalIP", nodeIP.String()).Info("node registered")
	case <-nc.Done():
		return fmt.Errorf("node controller: %w", nc.Err())
	case <-ctx.Done():
		return nil
	}
	select {
	case <-ctx.Done():
		return nil
	case err := <-errc:
		if err == nil && ctx.Err() != nil {
			return nil
		}
		return fmt.Errorf("agent stopped: %w", errors.Join(err, errors.New("a controller exited")))
	}
}

// queueRateLimiter backs off items that fail, per item, and otherwise lets
// work through as fast as the API client's own limits allow.
func queueRateLimiter() workqueue.TypedRateLimiter[any] {
	return workqueue.NewTypedMaxOfRateLimiter(
		workqueue.NewTypedItemExponentialFailureRateLimiter[any](5*time.Millisecond, 30*time.Second),
		&workqueue.TypedBucketRateLimiter[any]{Limiter: rate.NewLimiter(rate.Limit(500), 1000)},
	)
}

// recreateDeletedNode registers the node again when someone deletes it, as
// the kubelet does at its next status update.
func recreateDeletedNode(client kubernetes.Interface, status *provider.NodeStatus) node.ErrorHandler {
	return func(ctx context.Context, err error) error {
		if !apierrors.IsNotFound(err) {
			return err
		}
		log.G(ctx).Warn("node object was deleted; registering it again")
		_, err = client.CoreV1().Nodes().Create(ctx, status.Node(), metav1.CreateOptions{})
		return err
	}
}

func hostnameOr(hostname, fallback string) string {
	if hostname == "" {
		return fallback
	}
	return hostname
}

// DetectNodeIP picks the node's InternalIP when --node-ip is not given: an
// address the node name resolves to, else the first global unicast address
// of an interface that is up.
func DetectNodeIP(nodeName string) (net.IP, error) {
	if addrs, err := net.LookupIP(nodeName); err == nil {
		for _, a := range addrs {
			if a.IsGlobalUnicast() {
				return a, nil
			}
		}
	}
	ifaces, err := net.Interfaces()
	if err != nil {
		return nil, fmt.Errorf("detect node IP: %w", err)
	}
	for _, iface := range ifaces {
		if iface.Flags&net.FlagUp == 0 || iface.Flags&net.FlagLoopback != 0 {
			continue
		}
		addrs, _ := iface.Addrs()
		for _, a := range addrs {
			if n, ok := a.(*net.IPNet); ok && n.IP.IsGlobalUnicast() {
				return n.IP, nil
			}
		}
	}
	return nil, errors.New("cannot detect the node's IP address: set --node-ip")
}

// hostRoot is the volumes' view of the host's /: none needed on the host.
func hostRoot(dir string) string {
	if filepath.Clean(dir) == "/" {
		return ""
	}
	return dir
}

// followAPIPods hands every pod that leaves the API to Pods.ReleaseGone,
// and every other change of a pod to Pods.ReconcileStatus.
func followAPIPods(ctx context.Context, pods *provider.Pods) cache.ResourceEventHandler {
	return cache.ResourceEventHandlerFuncs{UpdateFunc: func(_, obj any) {
		if pod, ok := obj.(*corev1.Pod); ok {
			pods.ReconcileStatus(pod) // the API's view of readiness, set by others
		}
	}, DeleteFunc: func(obj any) {
		if tomb, ok := obj.(cache.DeletedFinalStateUnknown); ok {
			obj = tomb.Obj
		}
		if pod, ok := obj.(*corev1.Pod); ok {
			go pods.ReleaseGone(ctx, pod.UID) // off the informer's delivery: it may call containerd
		}
	}}
}
