// Command report summarizes the JUnit files of a conformance run of the
// upstream e2e suite (hack/conformance/run.sh): the counts, a table by area,
// and every failure with a one-line reason. It compares the failures with an
// expectations file, one spec name per line followed by " # reason", and
// exits 1 when a spec fails that the file does not list. Listed specs that
// passed are named, so that the list only shrinks.
//
//	report [--expected FILE] JUNIT...
package main

import (
	"bufio"
	"encoding/xml"
	"flag"
	"fmt"
	"io"
	"maps"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
)

// Outcomes of a spec, from the least to the most telling; when a spec is
// in several files (each ginkgo run lists every spec), the most telling wins.
type outcome int

const (
	notSelected outcome = iota // filtered out by focus or labels
	skipped                    // skipped at run time, with a reason
	passed
	failed
)

// result is one spec (or a failed suite node) of the run.
type result struct {
	name    string
	area    string
	outcome outcome
	reason  string  // failure or skip reason, one line
	seconds float64 // run time
}

// JUnit as ginkgo writes it: testsuites > testsuite > testcase.
type junitCase struct {
	Name    string  `xml:"name,attr"`
	Status  string  `xml:"status,attr"`
	Time    float64 `xml:"time,attr"`
	Skipped *struct {
		Message string `xml:"message,attr"`
	} `xml:"skipped"`
	Failure *junitProblem `xml:"failure"`
	Error   *junitProblem `xml:"error"`
}

type junitProblem struct {
	Message string `xml:"message,attr"`
	Text    string `xml:",chardata"`
}

type junitSuite struct {
	Cases []junitCase `xml:"testcase"`
}

// readJUnit parses one file, whose root is <testsuites> or <testsuite>.
func readJUnit(r io.Reader) ([]junitCase, error) {
	var root struct {
		XMLName xml.Name
		Suites  []junitSuite `xml:"testsuite"`
		Cases   []junitCase  `xml:"testcase"`
	}
	if err := xml.NewDecoder(r).Decode(&root); err != nil {
		return nil, err
	}
	cases := root.Cases
	for _, s := range root.Suites {
		cases = append(cases, s.Cases...)
	}
	return cases, nil
}

// toResult turns a test case into a result. Specs are "[It] <full name>";
// suite nodes ("[SynchronizedBeforeSuite]", ...) count only when they fail,
// and ok is false otherwise.
func toResult(c junitCase, file string) (r result, ok bool) {
	r = result{name: c.Name, seconds: c.Time}
	spec := strings.HasPrefix(c.Name, "[It] ")
	if spec {
		r.name = strings.TrimPrefix(c.Name, "[It] ")
	}
	switch {
	case c.Failure != nil || c.Error != nil:
		r.outcome = failed
		p := c.Failure
		if p == nil {
			p = c.Error
		}
		r.reason = failureReason(p.Message, p.Text)
	case c.Status == "skipped" || c.Skipped != nil:
		msg := ""
		if c.Skipped != nil {
			msg = c.Skipped.Message
		}
		if reason, ok := strings.CutPrefix(msg, "skipped - "); ok {
			r.outcome, r.reason = skipped, firstLine(reason)
		} else {
			r.outcome = notSelected
		}
	case c.Status == "passed":
		r.outcome = passed
	default: // pending and anything new: not run
		r.outcome = notSelected
	}
	if !spec {
		if r.outcome != failed {
			return r, false
		}
		r.name = fmt.Sprintf("%s (%s)", r.name, filepath.Base(file))
		r.area = "suite"
		return r, true
	}
	r.area = area(r.name)
	return r, true
}

var (
	// stateLabel is ginkgo's label in front of a failure text: "[FAILED] ".
	stateLabel = regexp.MustCompile(`^\[[A-Z]+\] ?`)
	// timedOut is gomega's first line of a failed Eventually, which says
	// nothing of what was awaited.
	timedOut = regexp.MustCompile(`^(Timed out|Told to stop trying) after [0-9.]+s\.$`)
	// location is ginkgo's line after a failure message: "In [It] at: ...".
	location = regexp.MustCompile(`^In \[[^]]+\] at: `)
)

// failureReason is the first line of the failure message: the message
// attribute if it is set, else the failure text without ginkgo's label. A
// first line that only introduces what follows ("Expected", "Timed out after
// 20s.") is joined with the next lines.
func failureReason(message, text string) string {
	if strings.TrimSpace(message) == "" {
		message = text
	}
	var parts []string
	for _, l := range strings.Split(message, "\n") {
		l = strings.Join(strings.Fields(l), " ")
		if len(parts) == 0 {
			l = stateLabel.ReplaceAllString(l, "")
		}
		if l == "" {
			continue
		}
		if location.MatchString(l) {
			break
		}
		parts = append(parts, l)
		if len(parts) == 4 || (len(l) > 12 && !strings.HasSuffix(l, ":") && !timedOut.MatchString(l)) {
			break
		}
	}
	return truncate(strings.Join(parts, " "), 240)
}

func firstLine(s string) string {
	l, _, _ := strings.Cut(strings.TrimSpace(s), "\n")
	return truncate(strings.TrimSpace(l), 240)
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}

// areas are the Describe names of the suite's node specs, longest first
// where one is a prefix of another; a spec's area is its sig and the first
// of these that starts the name after the sig.
var areas = []string{
	"Container Lifecycle Hook", "Container Runtime", "Containers", "ConfigMap", "Downward API volume",
	"Downward API", "EmptyDir volumes", "EmptyDir wrapper volumes", "Ephemeral Containers", "ImageVolume",
	"InitContainer", "KubeletManagedEtcHosts", "Kubelet", "Lease", "NoExecuteTaintManager", "Node Lifecycle",
	"Pod InPlace Resize", "PodTemplates", "Pods Extended", "Pods", "PreStop", "Probing container",
	"Projected combined", "Projected configMap", "Projected downwardAPI", "Projected secret", "RuntimeClass",
	"Secrets", "Security Context", "Sysctls", "Variable Expansion",
}

func area(name string) string {
	sig, rest := "", name
	if strings.HasPrefix(name, "[sig-") {
		if i := strings.Index(name, "] "); i > 0 {
			sig, rest = name[1:i], name[i+2:]
		}
	}
	a := ""
	for _, known := range areas {
		if (rest == known || strings.HasPrefix(rest, known+" ")) && len(known) > len(a) {
			a = known
		}
	}
	if a == "" { // an area not in the table: its first word
		a, _, _ = strings.Cut(rest, " ")
	}
	if sig == "" {
		return a
	}
	return sig + "/" + a
}

// readExpected reads the expectations file: "name # reason" per line;
// blank lines and lines starting with # are ignored.
func readExpected(r io.Reader) (map[string]string, error) {
	want := map[string]string{}
	s := bufio.NewScanner(r)
	s.Buffer(make([]byte, 64*1024), 1024*1024)
	for n := 1; s.Scan(); n++ {
		line := strings.TrimSpace(s.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		name, reason, ok := strings.Cut(line, " # ")
		if !ok || strings.TrimSpace(reason) == "" {
			return nil, fmt.Errorf("line %d: want \"<spec name> # <reason>\"", n)
		}
		want[strings.TrimSpace(name)] = strings.TrimSpace(reason)
	}
	return want, s.Err()
}

// merge keeps one result per name: the most telling outcome.
func merge(results []result) []result {
	byName := map[string]int{}
	var out []result
	for _, r := range results {
		if i, ok := byName[r.name]; ok {
			if r.outcome > out[i].outcome {
				out[i] = r
			}
			continue
		}
		byName[r.name] = len(out)
		out = append(out, r)
	}
	slices.SortFunc(out, func(a, b result) int { return strings.Compare(a.name, b.name) })
	return out
}

// summary writes the report and tells whether a failure was unexpected.
func summary(w io.Writer, results []result, expected map[string]string) (unexpected int) {
	type counts struct {
		passed, failed, skipped int
		seconds                 float64
	}
	byArea := map[string]*counts{}
	var total counts
	var failures, fixed []result
	for _, r := range results {
		if r.outcome == notSelected {
			continue
		}
		c := byArea[r.area]
		if c == nil {
			c = &counts{}
			byArea[r.area] = c
		}
		c.seconds += r.seconds
		total.seconds += r.seconds
		switch r.outcome {
		case passed:
			c.passed++
			total.passed++
			if _, ok := expected[r.name]; ok {
				fixed = append(fixed, r)
			}
		case failed:
			c.failed++
			total.failed++
			failures = append(failures, r)
		case skipped:
			c.skipped++
			total.skipped++
		}
	}
	fmt.Fprintf(w, "%d passed, %d failed, %d skipped\n\n", total.passed, total.failed, total.skipped)
	if len(byArea) > 0 {
		names := slices.Sorted(maps.Keys(byArea))
		width := len("area")
		for _, a := range names {
			width = max(width, len(a))
		}
		fmt.Fprintf(w, "%-*s %6s %6s %7s %8s\n", width, "area", "passed", "failed", "skipped", "seconds")
		for _, a := range names {
			c := byArea[a]
			fmt.Fprintf(w, "%-*s %6d %6d %7d %8.0f\n", width, a, c.passed, c.failed, c.skipped, c.seconds)
		}
		fmt.Fprintln(w)
	}
	if len(failures) > 0 {
		fmt.Fprintln(w, "Failures:")
		for _, r := range failures {
			mark := "UNEXPECTED"
			if why, ok := expected[r.name]; ok {
				mark = "expected (" + why + ")"
			} else {
				unexpected++
			}
			fmt.Fprintf(w, "  %s\n      %s\n      reason: %s\n", r.name, mark, r.reason)
		}
		fmt.Fprintln(w)
	}
	if len(fixed) > 0 {
		fmt.Fprintln(w, "Passed, but listed as expected failures (remove them from the list):")
		for _, r := range fixed {
			fmt.Fprintf(w, "  %s\n", r.name)
		}
		fmt.Fprintln(w)
	}
	if unexpected > 0 {
		fmt.Fprintf(w, "%d unexpected failure(s)\n", unexpected)
	}
	return unexpected
}

func main() {
	expectedFile := flag.String("expected", "", "file of expected failures: \"<spec name> # <reason>\" per line")
	flag.Usage = func() {
		fmt.Fprintln(os.Stderr, "usage: report [--expected FILE] JUNIT...")
		flag.PrintDefaults()
	}
	flag.Parse()
	if flag.NArg() == 0 {
		flag.Usage()
		os.Exit(2)
	}
	expected := map[string]string{}
	if *expectedFile != "" {
		f, err := os.Open(*expectedFile)
		if err != nil {
			fatal(err)
		}
		expected, err = readExpected(f)
		f.Close()
		if err != nil {
			fatal(fmt.Errorf("%s: %w", *expectedFile, err))
		}
	}
	var results []result
	for _, path := range flag.Args() {
		f, err := os.Open(path)
		if err != nil {
			fatal(err)
		}
		cases, err := readJUnit(f)
		f.Close()
		if err != nil {
			fatal(fmt.Errorf("%s: %w", path, err))
		}
		for _, c := range cases {
			if r, ok := toResult(c, path); ok {
				results = append(results, r)
			}
		}
	}
	if summary(os.Stdout, merge(results), expected) > 0 {
		os.Exit(1)
	}
}

func fatal(err error) {
	fmt.Fprintln(os.Stderr, "report:", err)
	os.Exit(2)
}
