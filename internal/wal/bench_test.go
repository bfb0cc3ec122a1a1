package wal

import (
	"context"
	"encoding/binary"
	"fmt"
	"math"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// benchDim is the embedding dimension of the benchmark vectors.
const benchDim = 384

// benchItem is the encoded size of one item: a 384-d float32 vector plus a
// few bytes of id and framing.
const benchItem = benchDim*4 + 8

// benchPayload returns a record holding n encoded 384-d vectors.
func benchPayload(n int) []byte {
	p := make([]byte, 0, n*benchItem)
	for i := range n {
		p = binary.LittleEndian.AppendUint64(p, uint64(i))
		for j := range benchDim {
			p = binary.LittleEndian.AppendUint32(p, math.Float32bits(float32(i*benchDim+j)/1e6))
		}
	}
	return p
}

// BenchmarkWrite measures durable ingest: records of 1 or 256 vectors,
// written by 1 or 8 goroutines, under each sync policy, on the disk holding
// the test's temp directory. One op is one record.
func BenchmarkWrite(b *testing.B) {
	for _, policy := range []SyncPolicy{SyncAlways, SyncInterval} {
		for _, vectors := range []int{1, 256} {
			for _, writers := range []int{1, 8} {
				name := fmt.Sprintf("sync=%s/vectors=%d/writers=%d", policy, vectors, writers)
				b.Run(name, func(b *testing.B) { benchWrite(b, policy, vectors, writers) })
			}
		}
	}
}

func benchWrite(b *testing.B, policy SyncPolicy, vectors, writers int) {
	l, err := Open(b.TempDir(), Options{Sync: policy, SyncInterval: 10 * time.Millisecond})
	if err != nil {
		b.Fatal(err)
	}
	p := benchPayload(vectors)
	b.SetBytes(int64(len(p)))
	b.ReportAllocs()
	var next atomic.Int64
	var wg sync.WaitGroup
	b.ResetTimer()
	for range writers {
		wg.Go(func() {
			for next.Add(1) <= int64(b.N) {
				if _, err := l.Write(context.Background(), p); err != nil {
					b.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	if err := l.Sync(context.Background()); err != nil {
		b.Fatal(err)
	}
	b.StopTimer()
	st := l.Stats()
	secs := b.Elapsed().Seconds()
	b.ReportMetric(float64(b.N)/secs, "records/s")
	b.ReportMetric(float64(b.N*vectors)/secs, "vectors/s")
	b.ReportMetric(float64(st.Syncs)/float64(b.N), "fsyncs/op")
	if err := l.Close(); err != nil {
		b.Fatal(err)
	}
}
