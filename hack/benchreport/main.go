// Command benchreport turns the rows `hack/bench table` measured into its
// markdown tables: one row per image, case and tool with the median and
// spread of the runs, and the ratio to the faster of the two ctr modes.
//
//	benchreport -results results.tsv [-start start.tsv] [-runs N]
//
// results.tsv: image, case, tool, wall s, client CPU s, peak RSS KiB,
// containerd CPU s, blob GETs, blob bytes, bytes, proxy CPU s (tab-separated;
// for the bound-* tools: bound s, CPU s, 0, 0, blobs, blob bytes, bytes,
// their own wall s; for the link tool: link s, 0, 0, 0, blobs, bytes, bytes, 0).
// start.tsv: label, seconds. Tools beyond the known ones (ctr-transfer-N-B, the
// --ctr-sweep rows) come after them, in the order first seen.
package main

import (
	"bufio"
	"flag"
	"fmt"
	"io"
	"os"
	"slices"
	"strconv"
	"strings"
)

type row struct {
	wall, cpu, rss, ctrd, blobs, blobBytes, bytes, extra float64
}

type key struct{ image, kase, tool string }

var (
	caseOrder = []string{"cold", "warm", "changed"}
	toolOrder = []string{"occ", "ctr-local", "ctr-transfer", "podman", "crane", "link", "bound-klauspost", "bound-std", "bound-zstd"}
	toolLabel = map[string]string{
		"occ":             "occ image pull",
		"ctr-local":       "ctr images pull --local",
		"ctr-transfer":    "ctr images pull (transfer)",
		"podman":          "podman pull",
		"crane":           "crane pull --format oci",
		"bound-klauspost": "bound: fetch+gunzip (klauspost)+untar",
		"bound-std":       "bound: fetch+gunzip (stdlib)+untar",
		"bound-zstd":      "bound: fetch+unzstd+untar",
	}
	linkRate float64
)

func main() {
	results := flag.String("results", "", "the pull rows (TSV)")
	start := flag.String("start", "", "the start/status rows (TSV)")
	runs := flag.Int("runs", 0, "runs per tool and case (for the header)")
	flag.Float64Var(&linkRate, "link-rate", 0, "the shaped network's total rate, bytes/s (for the link row's label)")
	flag.Parse()
	if *results == "" {
		fmt.Fprintln(os.Stderr, "benchreport: -results is required")
		os.Exit(2)
	}
	if err := run(os.Stdout, *results, *start, *runs); err != nil {
		fmt.Fprintln(os.Stderr, "benchreport:", err)
		os.Exit(1)
	}
}

func run(w io.Writer, results, start string, runs int) error {
	rows := map[key][]row{}
	var images []string
	err := readTSV(results, func(f []string) error {
		if len(f) < 11 {
			return fmt.Errorf("short row %q", strings.Join(f, "\t"))
		}
		var v [8]float64
		for i := range v {
			x, err := strconv.ParseFloat(f[3+i], 64)
			if err != nil {
				return fmt.Errorf("row %q: %w", strings.Join(f, "\t"), err)
			}
			v[i] = x
		}
		k := key{f[0], f[1], f[2]}
		if !slices.Contains(toolOrder, k.tool) {
			// Insert sweep rows after the last ctr row.
			at := slices.Index(toolOrder, "podman")
			toolOrder = slices.Insert(toolOrder, at, k.tool)
			if strings.HasPrefix(k.tool, "ctr-transfer-") {
				var dl, buf int
				if _, err := fmt.Sscanf(k.tool, "ctr-transfer-%d-%d", &dl, &buf); err == nil {
					toolLabel[k.tool] = fmt.Sprintf("ctr images pull (transfer, %d downloads, %s ranges)", dl, mib(buf))
				}
			}
		}
		if !slices.Contains(images, k.image) {
			images = append(images, k.image)
		}
		rows[k] = append(rows[k], row{wall: v[0], cpu: v[1], rss: v[2], ctrd: v[3], blobs: v[4], blobBytes: v[5], bytes: v[6], extra: v[7]})
		return nil
	})
	if err != nil {
		return err
	}
	fmt.Fprintf(w, "Pulls (%d run(s) per cell, tools alternating; medians, wall spread min-max; ratio = wall median / the fastest ctr mode or configuration's):\n\n", runs)
	fmt.Fprintln(w, "| image | case | tool | wall s | wall min-max | CPU s client | CPU s containerd | CPU s total | peak RSS MiB | blobs | MiB fetched | ratio |")
	fmt.Fprintln(w, "|---|---|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|")
	var proxyCPU []float64
	var boundWall []string
	for _, img := range images {
		for _, c := range caseOrder {
			best := 0.0
			for _, t := range toolOrder {
				if !strings.HasPrefix(t, "ctr-") {
					continue
				}
				if rs := rows[key{img, c, t}]; len(rs) > 0 {
					if m := median(rs, func(r row) float64 { return r.wall }); best == 0 || m < best {
						best = m
					}
				}
			}
			for _, t := range toolOrder {
				rs := rows[key{img, c, t}]
				if len(rs) == 0 {
					continue
				}
				wall := median(rs, func(r row) float64 { return r.wall })
				lo, hi := span(rs, func(r row) float64 { return r.wall })
				ratio := "-"
				if best > 0 {
					ratio = fmt.Sprintf("%.2fx", wall/best)
				}
				blobs := median(rs, func(r row) float64 { return r.blobs })
				mib := median(rs, func(r row) float64 { return r.bytes }) / (1 << 20)
				if t == "link" {
					label := "link bound: bytes / the total rate"
					if linkRate > 0 {
						label = fmt.Sprintf("link bound: bytes / %.0f MB/s", linkRate/1e6)
					}
					fmt.Fprintf(w, "| %s | %s | %s | %.2f | - | - | - | - | - | %.0f | %.1f | %s |\n",
						img, c, label, wall, blobs, mib, ratio)
					continue
				}
				if strings.HasPrefix(t, "bound-") {
					boundWall = append(boundWall, fmt.Sprintf("%s %s %.2f s", img, strings.TrimPrefix(t, "bound-"),
						median(rs, func(r row) float64 { return r.extra })))
					cpu := median(rs, func(r row) float64 { return r.cpu })
					fmt.Fprintf(w, "| %s | %s | %s | %.2f (CPU/cores) | %.2f-%.2f | %.2f | - | %.2f | - | %.0f | %.1f | %s |\n",
						img, c, toolLabel[t], wall, lo, hi, cpu, cpu, blobs, mib, ratio)
					continue
				}
				_, rss := span(rs, func(r row) float64 { return r.rss })
				cpu := median(rs, func(r row) float64 { return r.cpu })
				ctrd := median(rs, func(r row) float64 { return r.ctrd })
				total := median(rs, func(r row) float64 { return r.cpu + r.ctrd })
				fmt.Fprintf(w, "| %s | %s | %s | %.2f | %.2f-%.2f | %.2f | %.2f | %.2f | %.0f | %.0f | %.1f | %s |\n",
					img, c, toolLabel[t], wall, lo, hi, cpu, ctrd, total, rss/1024, blobs, mib, ratio)
				if c == "cold" {
					for _, r := range rs {
						proxyCPU = append(proxyCPU, r.extra)
					}
				}
			}
		}
	}
	if len(proxyCPU) > 0 {
		slices.Sort(proxyCPU)
		fmt.Fprintf(w, "\nThe counting proxy's own CPU per cold pull: median %.2f s, max %.2f s (in no column above; it runs beside the tool on the same cores).\n",
			proxyCPU[len(proxyCPU)/2], proxyCPU[len(proxyCPU)-1])
	}
	if len(boundWall) > 0 {
		fmt.Fprintf(w, "\nThe bound helper's own wall time (its layers on all cores at once, file writes included), median: %s.\n",
			strings.Join(boundWall, ", "))
	}
	if start == "" {
		return nil
	}
	times := map[string][]float64{}
	var labels []string
	err = readTSV(start, func(f []string) error {
		if len(f) < 2 {
			return fmt.Errorf("short row %q", strings.Join(f, "\t"))
		}
		x, err := strconv.ParseFloat(f[1], 64)
		if err != nil {
			return err
		}
		if !slices.Contains(labels, f[0]) {
			labels = append(labels, f[0])
		}
		times[f[0]] = append(times[f[0]], x)
		return nil
	})
	if err != nil || len(labels) == 0 {
		return err
	}
	ref := map[string]string{
		"occ start (to ready)": "ctr run -d (to its port)",
		"occ status":           "ctr task ls",
	}
	fmt.Fprintln(w, "\nStart (image present) and status (sandbox running):")
	fmt.Fprintln(w, "\n| command | wall s (median) | min-max | runs | ratio |")
	fmt.Fprintln(w, "|---|--:|--:|--:|--:|")
	slices.Sort(labels)
	for _, l := range labels {
		ts := times[l]
		id := func(x float64) float64 { return x }
		m := medianF(ts, id)
		lo, hi := spanF(ts, id)
		ratio := "-"
		if o, ok := ref[l]; ok && len(times[o]) > 0 {
			ratio = fmt.Sprintf("%.2fx %s", m/medianF(times[o], id), o)
		}
		fmt.Fprintf(w, "| %s | %.3f | %.3f-%.3f | %d | %s |\n", l, m, lo, hi, len(ts), ratio)
	}
	return nil
}

func readTSV(path string, fn func([]string) error) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if line := strings.TrimSpace(sc.Text()); line != "" {
			if err := fn(strings.Split(line, "\t")); err != nil {
				return err
			}
		}
	}
	return sc.Err()
}

func median[T any](xs []T, f func(T) float64) float64 {
	return medianF(xs, f)
}

func medianF[T any](xs []T, f func(T) float64) float64 {
	v := make([]float64, len(xs))
	for i, x := range xs {
		v[i] = f(x)
	}
	slices.Sort(v)
	n := len(v)
	if n == 0 {
		return 0
	}
	if n%2 == 1 {
		return v[n/2]
	}
	return (v[n/2-1] + v[n/2]) / 2
}

func span[T any](xs []T, f func(T) float64) (lo, hi float64) { return spanF(xs, f) }

func spanF[T any](xs []T, f func(T) float64) (lo, hi float64) {
	for i, x := range xs {
		v := f(x)
		if i == 0 || v < lo {
			lo = v
		}
		if i == 0 || v > hi {
			hi = v
		}
	}
	return lo, hi
}

// mib names a byte count: "no" for 0, else MiB.
func mib(b int) string {
	if b == 0 {
		return "no"
	}
	return fmt.Sprintf("%g MiB", float64(b)/(1<<20))
}
