package stats

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// NodeUsage reads the node's cumulative CPU time and memory working set from
// the root cgroup (v1 or v2), as the kubelet's cAdvisor does.
func NodeUsage(cgroupRoot string) (Usage, error) {
	if data, err := os.ReadFile(filepath.Join(cgroupRoot, "cpuacct", "cpuacct.usage")); err == nil {
		// cgroup v1
		cpu, err := strconv.ParseUint(strings.TrimSpace(string(data)), 10, 64)
		if err != nil {
			return Usage{}, fmt.Errorf("cpuacct.usage: %w", err)
		}
		usage, err := readUint(filepath.Join(cgroupRoot, "memory", "memory.usage_in_bytes"))
		if err != nil {
			return Usage{}, err
		}
		st, err := readKV(filepath.Join(cgroupRoot, "memory", "memory.stat"))
		if err != nil {
			return Usage{}, err
		}
		return Usage{CPUNanos: cpu, MemoryUsage: usage, MemoryWorkingSet: WorkingSet(usage, st["total_inactive_file"]),
			MemoryRSS: st["total_rss"], PageFaults: st["total_pgfault"], MajorPageFaults: st["total_pgmajfault"]}, nil
	}
	// cgroup v2: the root has cpu.stat but no memory.current; use meminfo.
	cpu, err := readKV(filepath.Join(cgroupRoot, "cpu.stat"))
	if err != nil {
		return Usage{}, err
	}
	mem, err := readKV("/proc/meminfo")
	if err != nil {
		return Usage{}, err
	}
	vm, err := readKV("/proc/vmstat")
	if err != nil {
		return Usage{}, err
	}
	usage := (mem["MemTotal:"] - mem["MemFree:"]) * 1024
	return Usage{CPUNanos: cpu["usage_usec"] * 1000, MemoryUsage: usage, MemoryWorkingSet: WorkingSet(usage, mem["Inactive(file):"]*1024),
		MemoryRSS: mem["AnonPages:"] * 1024, PageFaults: vm["pgfault"], MajorPageFaults: vm["pgmajfault"]}, nil
}

func readUint(path string) (uint64, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return 0, err
	}
	return strconv.ParseUint(strings.TrimSpace(string(data)), 10, 64)
}

// readKV reads "key value [unit]" lines.
func readKV(path string) (map[string]uint64, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	out := map[string]uint64{}
	s := bufio.NewScanner(f)
	for s.Scan() {
		fields := strings.Fields(s.Text())
		if len(fields) < 2 {
			continue
		}
		if v, err := strconv.ParseUint(fields[1], 10, 64); err == nil {
			out[fields[0]] = v
		}
	}
	return out, s.Err()
}
