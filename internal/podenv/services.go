package podenv

import (
	"strconv"
	"strings"

	corev1 "k8s.io/api/core/v1"
)

// ServiceEnv returns the service link variables of services, as the kubelet
// makes them (docker-link style): for a service "my-db" with cluster IP
// 10.0.0.9 and a TCP port 5432 named "pg",
//
//	MY_DB_SERVICE_HOST=10.0.0.9  MY_DB_SERVICE_PORT=5432  MY_DB_SERVICE_PORT_PG=5432
//	MY_DB_PORT=tcp://10.0.0.9:5432  MY_DB_PORT_5432_TCP=tcp://10.0.0.9:5432
//	MY_DB_PORT_5432_TCP_PROTO=tcp  MY_DB_PORT_5432_TCP_PORT=5432  MY_DB_PORT_5432_TCP_ADDR=10.0.0.9
//
// Headless services and services without a cluster IP or ports have none.
func ServiceEnv(services []corev1.Service) map[string]string {
	env := map[string]string{}
	for _, svc := range services {
		ip := svc.Spec.ClusterIP
		if ip == "" || ip == corev1.ClusterIPNone || len(svc.Spec.Ports) == 0 {
			continue
		}
		name := strings.ToUpper(strings.ReplaceAll(svc.Name, "-", "_"))
		first := svc.Spec.Ports[0]
		env[name+"_SERVICE_HOST"] = ip
		env[name+"_SERVICE_PORT"] = strconv.Itoa(int(first.Port))
		env[name+"_PORT"] = portURL(first, ip)
		for _, p := range svc.Spec.Ports {
			port := strconv.Itoa(int(p.Port))
			if p.Name != "" {
				env[name+"_SERVICE_PORT_"+strings.ToUpper(strings.ReplaceAll(p.Name, "-", "_"))] = port
			}
			proto := strings.ToUpper(string(p.Protocol))
			if proto == "" {
				proto = "TCP"
			}
			prefix := name + "_PORT_" + port + "_" + proto
			env[prefix] = portURL(p, ip)
			env[prefix+"_PROTO"] = strings.ToLower(proto)
			env[prefix+"_PORT"] = port
			env[prefix+"_ADDR"] = ip
		}
	}
	return env
}

func portURL(p corev1.ServicePort, ip string) string {
	proto := strings.ToLower(string(p.Protocol))
	if proto == "" {
		proto = "tcp"
	}
	host := ip
	if strings.Contains(ip, ":") {
		host = "[" + ip + "]"
	}
	return proto + "://" + host + ":" + strconv.Itoa(int(p.Port))
}
