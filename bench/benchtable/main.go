// Command benchtable reads `go test -bench` output on stdin and prints, per
// benchmark, the median ns/op, B/op and allocs/op over all runs, and for each
// peer the speedup of ours over it.
//
// Benchmarks are paired by name: Benchmark<Group>/<impl>/<mode> is compared
// with Benchmark<Group>/ours/<mode>, so a new group of comparisons needs no
// change here — only benchmarks that follow the naming.
package main

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
)

// ours is the impl segment of our own benchmarks.
const ours = "ours"

// procSuffix is the -GOMAXPROCS suffix go test appends to a benchmark name.
var procSuffix = regexp.MustCompile(`-\d+$`)

type samples struct {
	ns, bytes, allocs []float64
}

func main() {
	if err := run(os.Stdin, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "benchtable:", err)
		os.Exit(1)
	}
}

func run(in io.Reader, out io.Writer) error {
	results := map[string]*samples{}
	var order []string
	sc := bufio.NewScanner(in)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) < 4 || !strings.HasPrefix(fields[0], "Benchmark") {
			continue
		}
		name := procSuffix.ReplaceAllString(fields[0], "")
		s := results[name]
		if s == nil {
			s = &samples{}
			results[name] = s
			order = append(order, name)
		}
		// After the iteration count come value/unit pairs.
		for i := 2; i+1 < len(fields); i += 2 {
			v, err := strconv.ParseFloat(fields[i], 64)
			if err != nil {
				continue
			}
			switch fields[i+1] {
			case "ns/op":
				s.ns = append(s.ns, v)
			case "B/op":
				s.bytes = append(s.bytes, v)
			case "allocs/op":
				s.allocs = append(s.allocs, v)
			}
		}
	}
	if err := sc.Err(); err != nil {
		return err
	}
	if len(order) == 0 {
		return fmt.Errorf("no benchmark results on stdin")
	}

	tw := tabwriter.NewWriter(out, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "benchmark\truns\tns/op\tB/op\tallocs/op\tours faster by (their ns / our ns)\t")
	for _, name := range order {
		s := results[name]
		ratio := ""
		if base, ok := results[baseline(name)]; ok && baseline(name) != name && len(base.ns) > 0 {
			ratio = fmt.Sprintf("%.2fx", median(s.ns)/median(base.ns))
		}
		fmt.Fprintf(tw, "%s\t%d\t%.1f\t%.0f\t%.0f\t%s\t\n", name, len(s.ns), median(s.ns), median(s.bytes), median(s.allocs), ratio)
	}
	return tw.Flush()
}

// baseline returns the name of our benchmark that name is compared with.
func baseline(name string) string {
	parts := strings.Split(name, "/")
	if len(parts) < 3 {
		return name
	}
	parts[1] = ours
	return strings.Join(parts, "/")
}

func median(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	if n := len(s); n%2 == 0 {
		return (s[n/2-1] + s[n/2]) / 2
	}
	return s[len(s)/2]
}
