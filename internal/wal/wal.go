package wal

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/hardneg/hardneg/internal/hist"
)

// Log is a write-ahead log in one directory. Its methods are safe for
// concurrent use. Only one Log may have a directory open at a time.
type Log struct {
	dir  string
	opts Options
	fs   FS

	wake chan struct{} // capacity 1: tells the flusher there is work
	done chan struct{} // closed when the flusher has exited

	truncMu sync.Mutex // serialises TruncateBefore

	mu sync.Mutex // guards the fields below
	// nextLSN is the LSN the next Append assigns.
	nextLSN uint64
	// buf holds encoded records appended but not yet taken by the flusher.
	buf []byte
	// rotations marks the points in buf where a new segment starts.
	rotations []rotation
	// tailSize is the size the active segment will have once buf is written.
	tailSize int64
	// writtenLSN is the last LSN handed to the operating system.
	writtenLSN uint64
	// durableLSN is the last LSN covered by a successful fsync.
	durableLSN uint64
	// syncWanted asks the flusher for an fsync under SyncInterval.
	syncWanted bool
	// err is the sticky failure (wrapping ErrFailed); nil while healthy.
	err error
	// closed is set by Close; Append refuses afterwards.
	closed bool
	// advanced is closed and replaced whenever writtenLSN, durableLSN, err
	// or closed changes, waking every waiter.
	advanced chan struct{}
	// segments lists the segment files, oldest first; the last is active.
	segments []segment
	// stats counts work done since Open; syncSeconds times the flusher's fsyncs.
	stats       Stats
	syncSeconds *hist.Histogram
	// recovery is what Open found.
	recovery Recovery

	// Owned by the flusher goroutine (and by Open before it starts).
	active File   // the last segment, open for appending
	spare  []byte // the buffer swapped in for buf at the next take
}

// rotation marks where in the pending buffer a new segment starts.
type rotation struct {
	off int    // byte offset in the pending buffer
	lsn uint64 // first LSN of the new segment
}

// Open opens (creating if needed) the log in dir, recovering what is on disk
// as described in the package documentation. Recovery reports what was
// found and cut.
func Open(dir string, opts Options) (*Log, error) {
	opts, err := opts.withDefaults()
	if err != nil {
		return nil, err
	}
	segs, end, rec, err := recoverDir(dir, opts)
	if err != nil {
		return nil, err
	}
	last := segs[len(segs)-1]
	path := filepath.Join(dir, last.name)
	f, err := opts.FS.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	// A previous process may have written records without fsyncing them;
	// they are only durable once this fsync returns.
	if err := f.Sync(); err != nil {
		f.Close()
		return nil, fmt.Errorf("sync %s: %w", path, err)
	}
	if err := opts.FS.SyncDir(dir); err != nil {
		f.Close()
		return nil, fmt.Errorf("sync wal directory: %w", err)
	}
	next := last.first
	if rec.LastLSN >= next {
		next = rec.LastLSN + 1
	}
	l := &Log{
		dir:         dir,
		opts:        opts,
		fs:          opts.FS,
		wake:        make(chan struct{}, 1),
		done:        make(chan struct{}),
		nextLSN:     next,
		tailSize:    end,
		writtenLSN:  next - 1,
		durableLSN:  next - 1,
		advanced:    make(chan struct{}),
		segments:    segs,
		recovery:    rec,
		syncSeconds: hist.New(hist.DurationBounds),
		active:      f,
	}
	go l.flushLoop()
	return l, nil
}

// Dir returns the directory of the log.
func (l *Log) Dir() string { return l.dir }

// Recovery returns what Open found on disk and what it cut away.
func (l *Log) Recovery() Recovery { return l.recovery }

// Append assigns the next LSN to payload and queues it for the flusher. It
// does not wait: pair it with WaitWritten or WaitDurable, or use Write.
// Records become durable in LSN order. The payload is copied; the caller may
// reuse it. Append does not bound memory; callers bound the data they have
// in flight.
func (l *Log) Append(payload []byte) (uint64, error) {
	if len(payload) > l.opts.MaxRecordSize {
		return 0, fmt.Errorf("%w: %d bytes, limit %d", ErrTooLarge, len(payload), l.opts.MaxRecordSize)
	}
	pcrc := payloadCRC(payload)
	size := int64(recordHeaderSize + len(payload))

	l.mu.Lock()
	if l.err != nil {
		err := l.err
		l.mu.Unlock()
		return 0, err
	}
	if l.closed {
		l.mu.Unlock()
		return 0, ErrClosed
	}
	lsn := l.nextLSN
	l.nextLSN++
	if l.tailSize > headerSize && l.tailSize+size > l.opts.SegmentSize {
		l.rotations = append(l.rotations, rotation{off: len(l.buf), lsn: lsn})
		l.tailSize = headerSize
	}
	l.tailSize += size
	l.buf = appendRecord(l.buf, lsn, payload, pcrc)
	l.stats.Appends++
	l.stats.AppendedBytes += uint64(size)
	l.mu.Unlock()

	select {
	case l.wake <- struct{}{}:
	default:
	}
	return lsn, nil
}

// Write appends payload and waits as the sync policy says: under SyncAlways
// until an fsync covers it, under SyncInterval until it is written to the
// operating system. It returns the record's LSN. If ctx ends first, Write
// returns the LSN with ctx's error: the record is queued and may still
// become durable.
func (l *Log) Write(ctx context.Context, payload []byte) (uint64, error) {
	lsn, err := l.Append(payload)
	if err != nil {
		return 0, err
	}
	if l.opts.Sync == SyncAlways {
		return lsn, l.WaitDurable(ctx, lsn)
	}
	return lsn, l.WaitWritten(ctx, lsn)
}

// DurableLSN returns the last LSN covered by a successful fsync; every
// record at or below it survives a power failure.
func (l *Log) DurableLSN() uint64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.durableLSN
}

// LastLSN returns the last LSN assigned by Append (0 if none ever was).
func (l *Log) LastLSN() uint64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.nextLSN - 1
}

// WaitDurable waits until the record lsn is covered by an fsync. Under
// SyncInterval that is the next background fsync; call Sync to force one.
func (l *Log) WaitDurable(ctx context.Context, lsn uint64) error {
	return l.wait(ctx, lsn, func() uint64 { return l.durableLSN })
}

// WaitWritten waits until the record lsn is written to the operating
// system, so that a crash of this process alone cannot lose it.
func (l *Log) WaitWritten(ctx context.Context, lsn uint64) error {
	return l.wait(ctx, lsn, func() uint64 { return l.writtenLSN })
}

// wait blocks until reached() >= lsn; reached is called with mu held.
func (l *Log) wait(ctx context.Context, lsn uint64, reached func() uint64) error {
	for {
		l.mu.Lock()
		switch {
		case reached() >= lsn:
			l.mu.Unlock()
			return nil
		case l.err != nil:
			err := l.err
			l.mu.Unlock()
			return err
		case lsn >= l.nextLSN:
			next := l.nextLSN
			l.mu.Unlock()
			return fmt.Errorf("%w: %d (next is %d)", ErrUnknownLSN, lsn, next)
		case l.closed && l.flusherDone():
			l.mu.Unlock()
			return ErrClosed
		}
		ch := l.advanced
		l.mu.Unlock()
		select {
		case <-ch:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

func (l *Log) flusherDone() bool {
	select {
	case <-l.done:
		return true
	default:
		return false
	}
}

// Sync forces an fsync of everything appended so far and waits for it.
func (l *Log) Sync(ctx context.Context) error {
	l.mu.Lock()
	target := l.nextLSN - 1
	if l.durableLSN >= target && l.err == nil {
		l.mu.Unlock()
		return nil
	}
	l.syncWanted = true
	l.mu.Unlock()
	select {
	case l.wake <- struct{}{}:
	default:
	}
	return l.WaitDurable(ctx, target)
}

// Close writes and fsyncs everything appended, stops the flusher and closes
// the active segment. It returns the failure if the log had failed.
// Appends after Close return ErrClosed.
func (l *Log) Close() error {
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		return ErrClosed
	}
	l.closed = true
	l.mu.Unlock()
	select {
	case l.wake <- struct{}{}:
	default:
	}
	<-l.done
	cerr := l.active.Close()
	l.mu.Lock()
	defer l.mu.Unlock()
	l.broadcast()
	if l.err != nil {
		return l.err
	}
	if cerr != nil {
		return fmt.Errorf("close segment: %w", cerr)
	}
	return nil
}

// broadcast wakes all waiters; mu must be held.
func (l *Log) broadcast() {
	close(l.advanced)
	l.advanced = make(chan struct{})
}

// fail records the first failure; later calls keep the first.
func (l *Log) fail(err error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.err == nil {
		l.err = fmt.Errorf("%w: %w", ErrFailed, err)
		l.buf = nil
		l.rotations = nil
		l.stats.Failed = true
	}
	l.broadcast()
}

// maxSpare is the largest buffer the flusher keeps for reuse.
const maxSpare = 8 << 20

// flushLoop is the single goroutine that writes and fsyncs segments.
func (l *Log) flushLoop() {
	defer close(l.done)
	var tick <-chan time.Time
	if l.opts.Sync == SyncInterval {
		t := time.NewTicker(l.opts.SyncInterval)
		defer t.Stop()
		tick = t.C
	}
	for {
		select {
		case <-l.wake:
		case <-tick:
			l.mu.Lock()
			l.syncWanted = true
			l.mu.Unlock()
		}

		l.mu.Lock()
		buf, rots, upto := l.buf, l.rotations, l.nextLSN-1
		l.buf, l.rotations = l.spare[:0], nil
		closing := l.closed
		doSync := (l.syncWanted || l.opts.Sync == SyncAlways || closing) && upto > l.durableLSN
		l.syncWanted = false
		failed := l.err != nil
		l.mu.Unlock()
		if failed {
			return
		}

		if len(buf) > 0 {
			if err := l.writeOut(buf, rots); err != nil {
				l.fail(err)
				return
			}
			l.mu.Lock()
			l.writtenLSN = upto
			l.broadcast()
			l.mu.Unlock()
		}
		if cap(buf) <= maxSpare {
			l.spare = buf[:0]
		} else {
			l.spare = nil
		}
		if doSync {
			start := time.Now()
			if err := l.active.Sync(); err != nil {
				l.fail(fmt.Errorf("fsync segment: %w", err))
				return
			}
			took := time.Since(start).Seconds()
			l.mu.Lock()
			l.syncSeconds.Observe(took)
			l.durableLSN = upto
			l.stats.Syncs++
			l.broadcast()
			l.mu.Unlock()
		}
		if closing {
			return
		}
	}
}

// writeOut writes buf to the active segment, starting new segments at the
// rotation points.
func (l *Log) writeOut(buf []byte, rots []rotation) error {
	prev := 0
	for _, r := range rots {
		if err := l.writeActive(buf[prev:r.off]); err != nil {
			return err
		}
		if err := l.rotate(r.lsn); err != nil {
			return err
		}
		prev = r.off
	}
	return l.writeActive(buf[prev:])
}

func (l *Log) writeActive(p []byte) error {
	if len(p) == 0 {
		return nil
	}
	if _, err := l.active.Write(p); err != nil {
		return fmt.Errorf("write segment: %w", err)
	}
	l.mu.Lock()
	l.stats.Writes++
	l.mu.Unlock()
	return nil
}
