package mining

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"

	"github.com/hardneg/hardneg/internal/binfmt"
)

// Loop state: what a collection's Exposure (served counts and rotation), Hardness and
// Calibration hold, encoded as one blob so that an engine can keep it across restarts
// (engine.LoopStateStore). The encoding is a format byte, then sections, each a tag
// byte, its length (u64, little-endian) and its body; a decoder skips tags it does not know.
// Strings carry their uvarint length; maps are written in their iteration order, and
// the least-recently-used lists from the least recent key to the most recent, so that
// decoding restores the eviction order.
//
//	exposure:    window, served, windows (uvarints); current and previous window
//	             counts (count, then id and count per item); rotation keys (count,
//	             then key, cycles and the ids served in its cycle)
//	hardness:    mean-loss flag u8, mean loss f64; keys (count, then key and h f64)
//	calibration: positive scores, candidate scores, positive similarities: each
//	             count and sum (uvarint, f64), where the next score goes in the
//	             ring of recent scores (uvarint) and the ring (count, then f32 each)
//	rotation floors: after exposure; keys (count, then key and the deepest floor of
//	             its cycle's calls, uvarint). A key loaded without one (a file
//	             written before the section) keeps its cycle whole up to
//	             MaxRotationIDs.
const (
	loopStateFormat   = 1
	tagExposure       = 1
	tagHardness       = 2
	tagCalibration    = 3
	tagRotationFloors = 4
)

// ErrLoopState is wrapped by every loop state decoding failure.
var ErrLoopState = errors.New("malformed loop state")

// LoopState is one collection's training-loop trackers. A nil field is left out of
// the encoding (or absent from it).
type LoopState struct {
	Exposure    *Exposure
	Hardness    *Hardness
	Calibration *Calibration
}

// Changes returns a number that changes whenever one of the trackers does, so that a
// saver can skip an unchanged state.
func (s LoopState) Changes() uint64 {
	var n uint64
	if s.Exposure != nil {
		n += s.Exposure.Changes()
	}
	if s.Hardness != nil {
		n += s.Hardness.Changes()
	}
	if s.Calibration != nil {
		n += s.Calibration.Changes()
	}
	return n
}

// Encode returns the trackers' encoding. Each tracker is read under its own lock, for
// as long as its section takes to write (about 0.3 s for 100,000 rotation keys of 32
// negatives each: BenchmarkLoopStateEncode); the buffer is sized from the previous
// encoding.
func (s LoopState) Encode() []byte {
	var hint int
	if s.Exposure != nil {
		hint += int(s.Exposure.stateBytes.Load())
	}
	if s.Hardness != nil {
		hint += int(s.Hardness.stateBytes.Load())
	}
	b := make([]byte, 1, 64+hint+hint/8+3*calibrationSample*4*3)
	b[0] = loopStateFormat
	// section appends a tag, a length to fill in and the body.
	section := func(tag byte, body func([]byte) []byte) int {
		b = append(b, tag, 0, 0, 0, 0, 0, 0, 0, 0)
		at := len(b)
		b = body(b)
		binary.LittleEndian.PutUint64(b[at-8:], uint64(len(b)-at))
		return len(b) - at
	}
	if s.Exposure != nil {
		n := section(tagExposure, s.Exposure.appendState)
		n += section(tagRotationFloors, s.Exposure.appendFloors)
		s.Exposure.stateBytes.Store(int64(n))
	}
	if s.Hardness != nil {
		s.Hardness.stateBytes.Store(int64(section(tagHardness, s.Hardness.appendState)))
	}
	if s.Calibration != nil {
		section(tagCalibration, s.Calibration.appendState)
	}
	return b
}

// DecodeLoopState decodes an encoding into new trackers; a tracker whose section is
// absent is new and empty. The exposure window is window (DefaultExposureWindow when
// ≤ 0) whatever the saved one was.
func DecodeLoopState(b []byte, window int) (LoopState, error) {
	s := LoopState{Exposure: NewExposure(window), Hardness: NewHardness(), Calibration: NewCalibration()}
	if len(b) == 0 || b[0] != loopStateFormat {
		return LoopState{}, fmt.Errorf("%w: unknown format", ErrLoopState)
	}
	d := binfmt.NewDecoder(b[1:], ErrLoopState)
	for d.Len() > 0 && d.Err() == nil {
		tag := d.Byte()
		body := binfmt.NewDecoder(d.Bytes(d.U64(), "section"), ErrLoopState)
		if d.Err() != nil {
			break
		}
		switch tag {
		case tagExposure:
			s.Exposure.readState(body)
		case tagHardness:
			s.Hardness.readState(body)
		case tagCalibration:
			s.Calibration.readState(body)
		case tagRotationFloors:
			s.Exposure.readFloors(body)
		default:
			continue
		}
		if body.Err() == nil && body.Len() > 0 {
			body.Fail("trailing bytes in a section")
		}
		if body.Err() != nil {
			return LoopState{}, body.Err()
		}
	}
	if d.Err() != nil {
		return LoopState{}, d.Err()
	}
	return s, nil
}

func appendCounts(b []byte, m map[string]uint32) []byte {
	b = binary.AppendUvarint(b, uint64(len(m)))
	for id, n := range m {
		b = binfmt.AppendString(b, id)
		b = binary.AppendUvarint(b, uint64(n))
	}
	return b
}

// Bounds of what a loop state may hold when read back: key and id strings, and list
// lengths (each element takes at least a byte, which Count checks first).
const (
	maxStateString = 1 << 20
	maxStateList   = 1 << 26
)

func readCounts(d *binfmt.Decoder) map[string]uint32 {
	n := d.Count(maxStateList, "counts")
	m := make(map[string]uint32, n)
	for range n {
		id := d.String(maxStateString, "id")
		v := d.Uvarint(math.MaxUint32, "count")
		if d.Err() != nil {
			return nil
		}
		m[id] = uint32(v)
	}
	return m
}

func appendF64(b []byte, v float64) []byte {
	return binary.LittleEndian.AppendUint64(b, math.Float64bits(v))
}

// Changes counts the tracker's changes (see LoopState.Changes).
func (x *Exposure) Changes() uint64 {
	x.mu.Lock()
	defer x.mu.Unlock()
	return x.changes
}

func (x *Exposure) appendState(b []byte) []byte {
	x.mu.Lock()
	defer x.mu.Unlock()
	b = binary.AppendUvarint(b, uint64(x.window))
	b = binary.AppendUvarint(b, uint64(x.served))
	b = binary.AppendUvarint(b, x.windows)
	b = appendCounts(b, x.cur)
	b = appendCounts(b, x.prev)
	b = binary.AppendUvarint(b, uint64(x.lru.Len()))
	for el := x.lru.Back(); el != nil; el = el.Prev() {
		r := el.Value.(*rotation)
		b = binfmt.AppendString(b, r.key)
		b = binary.AppendUvarint(b, r.cycles)
		b = binfmt.AppendStrings(b, r.ids)
	}
	return b
}

// appendFloors appends each rotation key's floor (rotation.floor), in the order of the
// exposure section's keys.
func (x *Exposure) appendFloors(b []byte) []byte {
	x.mu.Lock()
	defer x.mu.Unlock()
	b = binary.AppendUvarint(b, uint64(x.lru.Len()))
	for el := x.lru.Back(); el != nil; el = el.Prev() {
		r := el.Value.(*rotation)
		b = binfmt.AppendString(b, r.key)
		b = binary.AppendUvarint(b, uint64(r.floor))
	}
	return b
}

// readFloors sets the floors of the keys readState loaded; a key it no longer holds is
// skipped.
func (x *Exposure) readFloors(d *binfmt.Decoder) {
	x.mu.Lock()
	defer x.mu.Unlock()
	n := d.Count(maxStateList, "rotation floors")
	for range n {
		key, floor := d.String(maxStateString, "key"), d.Uvarint(MaxRotationIDs, "floor")
		if d.Err() != nil {
			return
		}
		if el, ok := x.rot[key]; ok {
			el.Value.(*rotation).floor = int(floor)
		}
	}
}

// readState replaces the state of a new tracker with a decoded one.
func (x *Exposure) readState(d *binfmt.Decoder) {
	x.mu.Lock()
	defer x.mu.Unlock()
	d.Uvarint(math.MaxUint64, "window") // the saved window; the tracker keeps its own
	served := d.Uvarint(math.MaxUint64, "served")
	x.windows = d.Uvarint(math.MaxUint64, "windows")
	x.cur, x.prev = readCounts(d), readCounts(d)
	x.served = int(min(served, uint64(x.window)))
	if x.served >= x.window { // a shorter window than the saved one
		x.prev, x.cur = x.cur, map[string]uint32{}
		x.served = 0
		x.windows++
	}
	n := d.Count(maxStateList, "rotation keys")
	// One string per distinct id: the same negative is served to many keys, and ids
	// decoded one by one took 1.6 times the memory of the state built by the calls (whose
	// ids share the collection's strings) in a soak with 21,000 keys.
	shared := map[string]string{}
	for range n {
		// The floor is not known until the rotation floors section (or a call) says.
		rot := &rotation{key: d.String(maxStateString, "key"), cycles: d.Uvarint(math.MaxUint64, "cycles"), served: map[string]struct{}{}, floor: MaxRotationIDs}
		m := d.Count(maxStateList, "served ids")
		for range m {
			id := d.String(maxStateString, "id")
			if s, ok := shared[id]; ok {
				id = s
			} else {
				shared[id] = id
			}
			if _, dup := rot.served[id]; !dup {
				rot.served[id] = struct{}{}
				rot.ids = append(rot.ids, id)
			}
		}
		if d.Err() != nil {
			return
		}
		if el, dup := x.rot[rot.key]; dup {
			x.lru.Remove(el)
			x.rotIDs -= len(el.Value.(*rotation).ids)
		}
		x.rot[rot.key] = x.lru.PushFront(rot)
		x.rotIDs += len(rot.ids)
	}
	x.trimRotationsLocked()
}

// Changes counts the tracker's changes (see LoopState.Changes).
func (t *Hardness) Changes() uint64 {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.changes
}

func (t *Hardness) appendState(b []byte) []byte {
	t.mu.Lock()
	defer t.mu.Unlock()
	ok := byte(0)
	if t.meanOK {
		ok = 1
	}
	b = append(b, ok)
	b = appendF64(b, t.meanLoss)
	b = binary.AppendUvarint(b, uint64(t.lru.Len()))
	for el := t.lru.Back(); el != nil; el = el.Prev() {
		st := el.Value.(*hardnessState)
		b = binfmt.AppendString(b, st.key)
		b = appendF64(b, st.h)
	}
	return b
}

func (t *Hardness) readState(d *binfmt.Decoder) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.meanOK = d.Flag()
	t.meanLoss = d.F64()
	n := d.Count(maxStateList, "hardness keys")
	for range n {
		key, h := d.String(maxStateString, "key"), d.F64()
		if d.Err() != nil {
			return
		}
		if !(h >= 0 && h <= 1) {
			d.Fail("hardness out of [0, 1]")
			return
		}
		t.stateLocked(key).h = h
	}
}

// Changes counts the tracker's changes (see LoopState.Changes).
func (c *Calibration) Changes() uint64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.pos.n + c.cand.n + c.posSim.n
}

func (c *Calibration) appendState(b []byte) []byte {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, s := range []*scoreStream{&c.pos, &c.cand, &c.posSim} {
		b = binary.AppendUvarint(b, s.n)
		b = appendF64(b, s.sum)
		b = binary.AppendUvarint(b, uint64(s.next))
		b = binary.AppendUvarint(b, uint64(len(s.ring)))
		b = binfmt.AppendFloats(b, s.ring)
	}
	return b
}

func (c *Calibration) readState(d *binfmt.Decoder) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, s := range []*scoreStream{&c.pos, &c.cand, &c.posSim} {
		s.n, s.sum = d.Uvarint(math.MaxUint64, "score count"), d.F64()
		next := d.Uvarint(calibrationSample, "ring position")
		n := d.Count(calibrationSample, "recent scores")
		switch {
		case next >= uint64(max(n, 1)) || (next > 0 && n < calibrationSample):
			d.Fail("bad position in the recent scores")
		}
		if d.Err() != nil {
			return
		}
		s.ring, s.next = d.Floats(n, "recent scores"), int(next)
	}
}
