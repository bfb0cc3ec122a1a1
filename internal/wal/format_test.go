package wal

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"testing"
)

var update = flag.Bool("update", false, "rewrite golden files and the fuzz seed corpus in testdata/")

// goldenSegment is a segment starting at LSN 7 with three records.
func goldenSegment() []byte {
	b := appendHeader(nil, 7)
	for i, p := range [][]byte{nil, []byte("a"), []byte("hard negatives")} {
		b = appendRecord(b, uint64(7+i), p, payloadCRC(p))
	}
	return b
}

// TestFormatGolden guards the on-disk format: a change that alters the
// bytes fails here and needs a new segment version.
func TestFormatGolden(t *testing.T) {
	path := filepath.Join("testdata", "segment-v1.golden")
	got := goldenSegment()
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("encoding changed:\n got %x\nwant %x", got, want)
	}
	sr := newSegmentReader(bytes.NewReader(want), 1<<10)
	if first, err := sr.readHeader(); err != nil || first != 7 {
		t.Fatalf("readHeader = %d, %v", first, err)
	}
	var payloads []string
	for {
		lsn, p, err := sr.record()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		payloads = append(payloads, fmt.Sprintf("%d:%s", lsn, p))
	}
	if got := fmt.Sprint(payloads); got != "[7: 8:a 9:hard negatives]" {
		t.Fatalf("decoded %s", got)
	}
}

// fuzzSeeds are the inputs written to testdata/fuzz/FuzzReplay by -update
// and added with f.Add.
func fuzzSeeds() map[string][]byte {
	valid := goldenSegment()
	big := appendHeader(nil, 1)
	big = append(big, 0xff, 0xff, 0xff, 0x7f) // length far above the limit
	big = append(big, make([]byte, 12)...)
	return map[string][]byte{
		"valid":        valid,
		"empty":        {},
		"header-only":  appendHeader(nil, 1),
		"torn-header":  valid[:headerSize-3],
		"torn-record":  valid[:len(valid)-5],
		"bad-crc":      flip(valid, headerSize+recordHeaderSize+3, 2),
		"huge-length":  big,
		"zero-filled":  append(appendHeader(nil, 1), make([]byte, 64)...),
		"bad-magic":    flip(valid, 0, 0),
		"bad-lsn-flip": flip(valid, headerSize+9, 0),
	}
}

// TestFuzzSeedCorpus keeps testdata/fuzz/FuzzReplay equal to fuzzSeeds;
// -update rewrites it.
func TestFuzzSeedCorpus(t *testing.T) {
	dir := filepath.Join("testdata", "fuzz", "FuzzReplay")
	for name, b := range fuzzSeeds() {
		path := filepath.Join(dir, name)
		content := fmt.Sprintf("go test fuzz v1\n[]byte(%q)\n", b)
		if *update {
			if err := os.MkdirAll(dir, 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
				t.Fatal(err)
			}
		}
		got, err := os.ReadFile(path)
		if err != nil || string(got) != content {
			t.Fatalf("seed %s out of date (%v); run go test -run TestFuzzSeedCorpus -update", path, err)
		}
	}
}
