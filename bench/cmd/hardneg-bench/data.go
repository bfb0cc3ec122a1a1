package main

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
)

// dataset is a benchmark data set loaded from a data directory.
type dataset struct {
	N, NQ, Dim, GTK int
	Base            []float32 // N × Dim
	Queries         []float32 // NQ × Dim
	GT              []int32   // NQ × GTK
	Groups          []int32   // N, or nil
}

type meta struct {
	N   int `json:"n"`
	NQ  int `json:"nq"`
	Dim int `json:"dim"`
	GTK int `json:"gt_k"`
}

func loadDataset(dir string) (*dataset, error) {
	raw, err := os.ReadFile(filepath.Join(dir, "meta.json"))
	if err != nil {
		return nil, err
	}
	var m meta
	if err := json.Unmarshal(raw, &m); err != nil {
		return nil, fmt.Errorf("meta.json: %w", err)
	}
	d := &dataset{N: m.N, NQ: m.NQ, Dim: m.Dim, GTK: m.GTK}
	if d.Base, err = readF32(filepath.Join(dir, "base.f32"), m.N*m.Dim); err != nil {
		return nil, err
	}
	if d.Queries, err = readF32(filepath.Join(dir, "queries.f32"), m.NQ*m.Dim); err != nil {
		return nil, err
	}
	if d.GT, err = readI32(filepath.Join(dir, "gt.i32"), m.NQ*m.GTK); err != nil {
		return nil, err
	}
	if _, err := os.Stat(filepath.Join(dir, "groups.i32")); err == nil {
		if d.Groups, err = readI32(filepath.Join(dir, "groups.i32"), m.N); err != nil {
			return nil, err
		}
	}
	return d, nil
}

func (d *dataset) row(i int) []float32   { return d.Base[i*d.Dim : (i+1)*d.Dim] }
func (d *dataset) query(i int) []float32 { return d.Queries[i*d.Dim : (i+1)*d.Dim] }
func (d *dataset) gt(i, k int) []int32   { return d.GT[i*d.GTK : i*d.GTK+k] }

func readRaw(path string, words int) ([]byte, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	if len(b) != 4*words {
		return nil, fmt.Errorf("%s: %d bytes, want %d", path, len(b), 4*words)
	}
	return b, nil
}

func readF32(path string, words int) ([]float32, error) {
	b, err := readRaw(path, words)
	if err != nil {
		return nil, err
	}
	out := make([]float32, words)
	for i := range out {
		out[i] = math.Float32frombits(binary.LittleEndian.Uint32(b[4*i:]))
	}
	return out, nil
}

func readI32(path string, words int) ([]int32, error) {
	b, err := readRaw(path, words)
	if err != nil {
		return nil, err
	}
	out := make([]int32, words)
	for i := range out {
		out[i] = int32(binary.LittleEndian.Uint32(b[4*i:]))
	}
	return out, nil
}

// recall returns |got ∩ want| / len(want).
func recall(got []int32, want []int32) float64 {
	hit := 0
	for _, w := range want {
		for _, g := range got {
			if g == w {
				hit++
				break
			}
		}
	}
	return float64(hit) / float64(len(want))
}
