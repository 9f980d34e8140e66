package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"maps"
	"os"
	"path"
	"slices"
	"strings"
	"testing"
)

// instruction is one Dockerfile instruction, continuation lines joined.
type instruction struct {
	cmd  string // upper case: FROM, RUN, ...
	args string
}

// parseDockerfile splits a Dockerfile into the global ARG defaults (before the
// first FROM) and its stages, each starting with its FROM.
func parseDockerfile(text string) (globals map[string]string, stages [][]instruction) {
	globals = map[string]string{}
	var joined strings.Builder
	sc := bufio.NewScanner(strings.NewReader(text))
	flush := func() {
		line := strings.TrimSpace(joined.String())
		joined.Reset()
		if line == "" {
			return
		}
		cmd, args, _ := strings.Cut(line, " ")
		in := instruction{cmd: strings.ToUpper(cmd), args: strings.TrimSpace(args)}
		switch {
		case in.cmd == "FROM":
			stages = append(stages, []instruction{in})
		case stages == nil:
			if in.cmd == "ARG" {
				k, v, _ := strings.Cut(in.args, "=")
				globals[k] = v
			}
		default:
			stages[len(stages)-1] = append(stages[len(stages)-1], in)
		}
	}
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if strings.HasPrefix(line, "#") {
			continue
		}
		if cont, ok := strings.CutSuffix(line, `\`); ok {
			joined.WriteString(cont + " ")
			continue
		}
		joined.WriteString(line)
		flush()
	}
	flush()
	return globals, stages
}

// argDefault is the default of a stage's ARG.
func argDefault(stage []instruction, name string) string {
	for _, in := range stage {
		if k, v, ok := strings.Cut(in.args, "="); in.cmd == "ARG" && ok && k == name {
			return v
		}
	}
	return ""
}

// baseImage resolves a stage's FROM ${ARG} to the ARG's default.
func baseImage(globals map[string]string, stage []instruction) string {
	from := strings.Fields(stage[0].args)[0]
	if arg, ok := strings.CutPrefix(from, "${"); ok {
		return globals[strings.TrimSuffix(arg, "}")]
	}
	return from
}

// aptPackages are the packages of every "apt-get install" in a stage.
func aptPackages(stage []instruction) []string {
	var out []string
	for _, in := range stage {
		if in.cmd != "RUN" {
			continue
		}
		words := strings.Fields(in.args)
		for i := 0; i+1 < len(words); i++ {
			if words[i] != "apt-get" || words[i+1] != "install" {
				continue
			}
			for _, w := range words[i+2:] {
				if w == "&&" || w == ";" || w == "||" || w == "|" {
					break
				}
				if !strings.HasPrefix(w, "-") {
					out = append(out, w)
				}
			}
		}
	}
	return out
}

// copiedFiles maps the image path of each file a stage copies from another
// stage to its path there.
func copiedFiles(stage []instruction) (map[string]string, []string) {
	out := map[string]string{}
	var problems []string
	for _, in := range stage {
		if in.cmd != "COPY" || !strings.HasPrefix(in.args, "--from=") {
			continue
		}
		words := strings.Fields(in.args)[1:]
		if len(words) < 2 {
			problems = append(problems, "COPY without a source: "+in.args)
			continue
		}
		srcs, dest := words[:len(words)-1], words[len(words)-1]
		for _, src := range srcs {
			switch {
			case strings.HasSuffix(dest, "/"):
				out[dest+path.Base(src)] = src
			case len(srcs) == 1:
				out[dest] = src
			default:
				problems = append(problems, "COPY of several files to a file: "+in.args)
			}
		}
	}
	return out, problems
}

// checkDockerfile lists how the Dockerfile differs from layout.go.
func checkDockerfile(text, cniVersion string) []string {
	var problems []string
	bad := func(format string, args ...any) { problems = append(problems, fmt.Sprintf(format, args...)) }
	globals, stages := parseDockerfile(text)
	if len(stages) < 2 {
		return []string{fmt.Sprintf("want a build stage and a final stage, found %d stages", len(stages))}
	}
	final := stages[len(stages)-1]

	if got, want := baseImage(globals, final), "debian:"+suite+"-slim"; got != want {
		bad("final stage starts from %q, want %q", got, want)
	}
	got, want := slices.Sorted(slices.Values(aptPackages(final))), slices.Sorted(slices.Values(packages))
	if !slices.Equal(got, want) {
		bad("final stage installs %q, want %q", got, want)
	}

	copied, ps := copiedFiles(final)
	problems = append(problems, ps...)
	wantFiles := map[string]bool{}
	for _, e := range files("", "") {
		wantFiles[e.path] = true
		if _, ok := copied[e.path]; !ok {
			bad("final stage does not copy %s", e.path)
		}
	}
	for _, dst := range slices.Sorted(maps.Keys(copied)) {
		if !wantFiles[dst] {
			bad("final stage copies %s, which the Go builder does not add", dst)
		} else if path.Base(copied[dst]) != path.Base(dst) {
			bad("final stage copies %s to %s", copied[dst], dst)
		}
	}

	var entry []string
	labelsSeen := map[string]string{}
	for _, in := range final {
		switch in.cmd {
		case "ENTRYPOINT":
			if err := json.Unmarshal([]byte(in.args), &entry); err != nil {
				bad("ENTRYPOINT %s is not an exec form: %v", in.args, err)
			}
		case "LABEL":
			for _, kv := range strings.Fields(in.args) {
				k, v, _ := strings.Cut(kv, "=")
				labelsSeen[k] = strings.Trim(v, `"`)
			}
		}
	}
	if !slices.Equal(entry, entrypoint) {
		bad("ENTRYPOINT is %q, want %q", entry, entrypoint)
	}
	if want := labels("$VERSION"); !maps.Equal(labelsSeen, want) {
		bad("LABELs are %v, want %v", labelsSeen, want)
	}

	// The build stage: the same plugins at hack/versions.env's version, and
	// the agent stamped as the Makefile stamps it.
	build := slices.Concat(stages[:len(stages)-1]...)
	var plugins []string
	var stamped bool
	for _, in := range build {
		if in.cmd != "RUN" {
			continue
		}
		for _, w := range strings.Fields(in.args) {
			if strings.HasPrefix(w, cniPluginsModule+"/plugins/") {
				plugins = append(plugins, w)
			}
		}
		stamped = stamped || strings.Contains(in.args, "-X "+versionVar+"=$VERSION")
	}
	var wantPlugins []string
	for _, p := range cniPackages() {
		wantPlugins = append(wantPlugins, p+"@$CNI_PLUGINS_VERSION")
	}
	if !slices.Equal(slices.Sorted(slices.Values(plugins)), slices.Sorted(slices.Values(wantPlugins))) {
		bad("build stage installs the CNI plugins %q, want %q", plugins, wantPlugins)
	}
	if got := argDefault(build, "CNI_PLUGINS_VERSION"); got != cniVersion {
		bad("CNI_PLUGINS_VERSION defaults to %q, hack/versions.env has %q", got, cniVersion)
	}
	if !stamped {
		bad("build stage does not stamp -X %s=$VERSION", versionVar)
	}
	return problems
}

// versionsEnv reads one variable of hack/versions.env.
func versionsEnv(t *testing.T, name string) string {
	t.Helper()
	data, err := os.ReadFile("../versions.env")
	if err != nil {
		t.Fatal(err)
	}
	for line := range strings.Lines(string(data)) {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), name+"="); ok {
			return v
		}
	}
	t.Fatalf("hack/versions.env has no %s", name)
	return ""
}

func readDockerfile(t *testing.T) string {
	t.Helper()
	data, err := os.ReadFile("../../Dockerfile")
	if err != nil {
		t.Fatal(err)
	}
	return string(data)
}

// TestDockerfileMatchesLayout holds the two builds of the image to the same
// packages, files, entrypoint and labels.
func TestDockerfileMatchesLayout(t *testing.T) {
	for _, p := range checkDockerfile(readDockerfile(t), versionsEnv(t, "CNI_PLUGINS_VERSION")) {
		t.Error(p)
	}
}

// TestCheckDockerfileSeesDrift makes sure the check above fails when one side
// changes: each edit of the Dockerfile must be reported.
func TestCheckDockerfileSeesDrift(t *testing.T) {
	text := readDockerfile(t)
	cni := versionsEnv(t, "CNI_PLUGINS_VERSION")
	edits := []struct{ name, old, new string }{
		{"package dropped", " nftables \\", " \\"},
		{"package added", "iptables nftables", "iptables nftables curl"},
		{"plugin dropped from the copy", " /out/cni/portmap /opt/cni/bin/", " /opt/cni/bin/"},
		{"plugin copied elsewhere", " /opt/cni/bin/\n", " /usr/lib/cni/\n"},
		{"agent moved", "/out/vk-containerd /usr/local/bin/vk-containerd", "/out/vk-containerd /usr/bin/vk-containerd"},
		{"entrypoint changed", `ENTRYPOINT ["/usr/local/bin/vk-containerd"]`, `ENTRYPOINT ["/bin/sh"]`},
		{"base image changed", "debian:bookworm-slim", "debian:trixie-slim"},
		{"plugin not built", "      github.com/containernetworking/plugins/plugins/meta/portmap@$CNI_PLUGINS_VERSION\n", "\n"},
		{"CNI version drifted", "CNI_PLUGINS_VERSION=" + cni, "CNI_PLUGINS_VERSION=v0.0.1"},
		{"version not stamped", "internal/version.Version=$VERSION", "internal/version.Version=dev"},
		{"label dropped", " org.opencontainers.image.version=$VERSION", ""},
	}
	for _, e := range edits {
		if !strings.Contains(text, e.old) {
			t.Errorf("%s: the Dockerfile has no %q to edit", e.name, e.old)
			continue
		}
		if p := checkDockerfile(strings.Replace(text, e.old, e.new, 1), cni); len(p) == 0 {
			t.Errorf("%s: not reported", e.name)
		}
	}
}
