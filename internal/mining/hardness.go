package mining

import (
	"container/list"
	"math"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"unicode/utf8"

	"github.com/hardneg/hardneg/internal/engine"
	"github.com/hardneg/hardneg/internal/validate"
)

// Closed-loop hardness (Policy.ClosedLoop): the trainer reports, per anchor key, whether
// the anchor is solved (or its loss), and the server moves the anchor's hardness h in
// [0, 1]. Mining shifts the anchor's rank window down by round((1 − h)·depth) ranks: a
// new anchor (h = 0) draws from a band below the top, and as it is solved its band
// climbs to the policy's own window (h = 1: the top). Each solved report raises h by
// HardnessStep, each unsolved one lowers it by HardnessStep, and each reported false
// negative of the key lowers it by HardnessBackoff (its top candidates are suspect).
const (
	// HardnessStep is the change of h per solved or unsolved report.
	HardnessStep = 0.25
	// HardnessBackoff is the decrease of h per (anchor, item) false-negative verdict
	// newly recorded for the key.
	HardnessBackoff = 0.25
	// MaxHardnessKeys bounds the keys a Hardness tracker remembers; the least recently
	// used key is forgotten first (and starts again at h = 0).
	MaxHardnessKeys = 100000
	// MaxOutcomes bounds the outcomes of one report.
	MaxOutcomes = 16384
	// lossEMA is the weight of a new loss in the collection's running mean loss.
	lossEMA = 0.05
)

// Outcome is what a trainer reports for one anchor key after a step: Solved, when set,
// says whether the anchor was solved; otherwise Loss is compared with the collection's
// running mean of reported losses (before this report): at or below it counts as
// solved, above as unsolved.
type Outcome struct {
	Key    string
	Loss   *float32
	Solved *bool
}

// Hardness holds the closed-loop hardness of one collection's anchor keys, in memory
// (LoopState encodes it, so the service can keep it across restarts). Safe for
// concurrent use.
type Hardness struct {
	// mu guards every field below.
	mu       sync.Mutex
	keys     map[string]*list.Element // key → element of lru holding a *hardnessState
	lru      *list.List               // most recently used first
	meanOK   bool                     // meanLosss holds at least one loss
	meanLoss float64                  // running mean of reported losses (EMA)
	changes  uint64                   // counts reports and back-offs (Changes)
	// stateBytes is the size of the last encoding of the tracker (LoopState.Encode).
	stateBytes atomic.Int64
}

type hardnessState struct {
	key string
	h   float64
}

// NewHardness returns an empty tracker.
func NewHardness() *Hardness {
	return &Hardness{keys: map[string]*list.Element{}, lru: list.New()}
}

// stateLocked returns key's state, creating it at h = 0; h.mu must be held.
func (t *Hardness) stateLocked(key string) *hardnessState {
	el, ok := t.keys[key]
	if !ok {
		if t.lru.Len() >= MaxHardnessKeys {
			old := t.lru.Back()
			t.lru.Remove(old)
			delete(t.keys, old.Value.(*hardnessState).key)
		}
		el = t.lru.PushFront(&hardnessState{key: key})
		t.keys[key] = el
	}
	t.lru.MoveToFront(el)
	return el.Value.(*hardnessState)
}

// Of returns key's hardness (0 for a key the tracker does not hold).
func (t *Hardness) Of(key string) float64 {
	t.mu.Lock()
	defer t.mu.Unlock()
	if el, ok := t.keys[key]; ok {
		return el.Value.(*hardnessState).h
	}
	return 0
}

// Len returns the number of keys held.
func (t *Hardness) Len() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.lru.Len()
}

// ValidateOutcomes checks a report; field is its path in the request.
func ValidateOutcomes(outs []Outcome, field string) error {
	var e validate.Error
	if n := len(outs); n == 0 || n > MaxOutcomes {
		e.Add(field, "must hold 1–%d outcomes, got %d", MaxOutcomes, n)
		return e.Err()
	}
	for i, o := range outs {
		f := field + "[" + strconv.Itoa(i) + "]"
		switch {
		case o.Key == "":
			e.Add(f+".anchor_key", "must not be empty")
		case len(o.Key) > engine.MaxIDBytes:
			e.Add(f+".anchor_key", "is %d bytes; at most %d", len(o.Key), engine.MaxIDBytes)
		case !utf8.ValidString(o.Key) || strings.IndexByte(o.Key, 0) >= 0:
			e.Add(f+".anchor_key", "must be UTF-8 without NUL")
		}
		switch {
		case o.Solved == nil && o.Loss == nil:
			e.Add(f, "needs solved or loss")
		case o.Solved != nil && o.Loss != nil:
			e.Add(f, "set solved or loss, not both")
		case o.Loss != nil && !finite(*o.Loss):
			e.Add(f+".loss", "must be finite")
		}
	}
	return e.Err()
}

// Report applies outcomes in order and returns each key's hardness after its outcome.
// Validate them first (ValidateOutcomes).
func (t *Hardness) Report(outs []Outcome) []float64 {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.changes++
	res := make([]float64, len(outs))
	for i, o := range outs {
		solved := false
		if o.Solved != nil {
			solved = *o.Solved
		} else {
			l := float64(*o.Loss)
			if !t.meanOK {
				t.meanLoss, t.meanOK = l, true
			}
			solved = l <= t.meanLoss
			t.meanLoss += lossEMA * (l - t.meanLoss)
		}
		st := t.stateLocked(o.Key)
		if solved {
			st.h = math.Min(1, st.h+HardnessStep)
		} else {
			st.h = math.Max(0, st.h-HardnessStep)
		}
		res[i] = st.h
	}
	return res
}

// BackOff lowers key's hardness by HardnessBackoff per newly recorded false-negative
// verdict (n of them).
func (t *Hardness) BackOff(key string, n int) {
	if n <= 0 {
		return
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	t.changes++
	st := t.stateLocked(key)
	st.h = math.Max(0, st.h-HardnessBackoff*float64(n))
}

// bandShift returns the rank shift of an anchor of hardness h under depth ranks.
func bandShift(h float64, depth int) int {
	return int(math.Round((1 - h) * float64(depth)))
}

// EffectiveClosedLoopDepth returns the depth of the closed-loop band: ClosedLoopDepth
// when set, else 10·k.
func (p *Policy) EffectiveClosedLoopDepth() int {
	if p.ClosedLoopDepth > 0 {
		return p.ClosedLoopDepth
	}
	return 10 * p.NumNegatives
}

// prepareClosedLoop resolves each anchor's closed-loop hardness and band shift.
func prepareClosedLoop(req *Request, anchors []prepared, e *validate.Error) {
	pol := &req.Policy
	if !pol.ClosedLoop {
		return
	}
	if req.Hardness == nil {
		e.Add("policy.closed_loop", "needs the collection's hardness tracker")
		return
	}
	depth := pol.EffectiveClosedLoopDepth()
	for i := range anchors {
		a := &anchors[i]
		if a.key == "" {
			e.Add("anchors["+strconv.Itoa(i)+"].key", "closed-loop hardness needs a key (or an id) per anchor")
			continue
		}
		a.hardness = req.Hardness.Of(a.key)
		a.shift = bandShift(a.hardness, depth)
	}
}

// annotateHardness reports each anchor's closed-loop hardness (mineAnchor reports the
// band shift it applied).
func annotateHardness(pol *Policy, anchors []prepared, results []Result) {
	if !pol.ClosedLoop {
		return
	}
	for i := range results {
		results[i].Hardness, results[i].HasHardness = float32(anchors[i].hardness), true
	}
}
