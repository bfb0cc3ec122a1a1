package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
)

// printTable prints the result-*.json files of dir as one Markdown table.
func printTable(dir string) error {
	files, err := filepath.Glob(filepath.Join(dir, "result-*.json"))
	if err != nil || len(files) == 0 {
		return fmt.Errorf("no result-*.json in %s", dir)
	}
	slices.Sort(files)
	var rs []result
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			return err
		}
		var r result
		if err := json.Unmarshal(b, &r); err != nil {
			return fmt.Errorf("%s: %w", f, err)
		}
		rs = append(rs, r)
	}
	cell := func(s string) string { return " " + s + " |" }
	var b strings.Builder
	b.WriteString("| system | build s (1 thr / 2 thr) | inserts/s (1 / 2) | B/node |")
	for _, ef := range efs {
		fmt.Fprintf(&b, " ef %d: µs (CPU µs) · recall |", ef)
	}
	b.WriteString("\n|---|---|---|---|")
	for range efs {
		b.WriteString("---|")
	}
	b.WriteString("\n")
	for _, r := range rs {
		b.WriteString("|" + cell(r.System))
		build, ins := []string{}, []string{}
		for _, t := range []string{"1", "2"} {
			if s, ok := r.BuildSeconds[t]; ok {
				build = append(build, fmt.Sprintf("%.1f", s))
				ins = append(ins, fmt.Sprintf("%.0f", float64(r.N)/s))
			} else {
				build = append(build, "—")
				ins = append(ins, "—")
			}
		}
		b.WriteString(cell(strings.Join(build, " / ")) + cell(strings.Join(ins, " / ")) + cell(fmt.Sprintf("%.0f", r.BytesPerNode)))
		for _, ef := range efs {
			i := slices.IndexFunc(r.Queries, func(q queryResult) bool { return q.Ef == ef })
			if i < 0 {
				b.WriteString(cell("—"))
				continue
			}
			q := r.Queries[i]
			b.WriteString(cell(fmt.Sprintf("%.0f (%.0f) · %.3f", q.MicrosPerQ, q.CPUMicros, q.RecallAt10)))
		}
		b.WriteString("\n")
	}
	for _, r := range rs {
		if r.SaveSeconds > 0 {
			best := r.BuildSeconds["2"]
			if best == 0 {
				best = r.BuildSeconds["1"]
			}
			fmt.Fprintf(&b, "\n%s: save %.2f s + load %.2f s (%.1f MB) vs rebuild %.1f s from vectors.",
				r.System, r.SaveSeconds, r.LoadSeconds, float64(r.SavedBytes)/1e6, best)
		}
		if r.Note != "" {
			fmt.Fprintf(&b, "\n%s: %s.", r.System, r.Note)
		}
	}
	fmt.Println(b.String())
	return nil
}
