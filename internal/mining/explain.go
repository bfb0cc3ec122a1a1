package mining

// MaxExplain bounds Request.Explain, the candidates explained per anchor, and
// MaxExplainTotal the candidates explained per request (anchors × Explain).
const (
	MaxExplain      = 1024
	MaxExplainTotal = 65536
)

// Fate is what became of one candidate: the rule that removed it, or FateReturned.
type Fate int

// Fates, in the order the rules judge a candidate (the RuleCounts field order), then
// the outcomes of the candidates that passed every rule.
const (
	FateSelf Fate = iota
	FatePositive
	FateExcluded
	FateInBatch
	FateFeedback
	FateSameGroup
	FateDuplicate
	FateExcludedDuplicate
	FateGuide
	FateMargin
	FateScoreBand
	FateRankWindow
	FateDiversity
	FateStale
	FateRotation
	FateExposure
	FateLikelyFalseNegative
	// FateReturned: the candidate is one of the returned negatives.
	FateReturned
	// FateUnsampled: the candidate was in the rank window, but the sampler had chosen k
	// negatives before reaching it.
	FateUnsampled
	// fateWindow marks a window candidate until sampling decides its fate.
	fateWindow
)

var fateNames = [...]string{
	FateSelf: "self", FatePositive: "positive", FateExcluded: "excluded", FateInBatch: "in_batch",
	FateFeedback: "feedback", FateSameGroup: "same_group", FateDuplicate: "duplicate",
	FateExcludedDuplicate: "excluded_duplicate", FateGuide: "guide", FateMargin: "margin",
	FateScoreBand: "score_band", FateRankWindow: "rank_window", FateDiversity: "diversity",
	FateStale: "stale", FateRotation: "rotation", FateExposure: "exposure",
	FateLikelyFalseNegative: "likely_false_negative",
	FateReturned:            "returned", FateUnsampled: "unsampled", fateWindow: "window",
}

// String returns the fate's name: the RuleCounts field in snake case, "returned" or
// "unsampled".
func (f Fate) String() string {
	if f < 0 || int(f) >= len(fateNames) {
		return "unknown"
	}
	return fateNames[f]
}

// Fates lists every fate a Result can report, in order.
func Fates() []Fate {
	out := make([]Fate, 0, int(fateWindow))
	for f := FateSelf; f < fateWindow; f++ {
		out = append(out, f)
	}
	return out
}

// Explained is one candidate judged for an anchor and its fate.
type Explained struct {
	ID string
	// Score is the similarity to the anchor's query; valid when HasScore. The id and
	// group rules (FateSelf … FateSameGroup) remove a candidate before it is scored.
	Score    float32
	HasScore bool
	// Rank is the raw rank (see Negative.Rank); valid when HasScore.
	Rank int
	Fate Fate
}

// explainer records the first limit candidates of one anchor, in the order the search
// judged them.
type explainer struct {
	limit     int
	list      []Explained
	truncated bool
}

// add records a candidate and returns its position in the list, or -1 when the list is
// full (or explaining is off).
func (e *explainer) add(x Explained) int {
	if e.limit <= 0 {
		return -1
	}
	if len(e.list) >= e.limit {
		e.truncated = true
		return -1
	}
	if e.list == nil {
		e.list = make([]Explained, 0, min(e.limit, 256))
	}
	e.list = append(e.list, x)
	return len(e.list) - 1
}

// settle sets the fate of a recorded candidate (i from add, -1: not recorded).
func (e *explainer) settle(i int, f Fate) {
	if i >= 0 {
		e.list[i].Fate = f
	}
}

// finish turns the window candidates that sampling never reached, and those the
// false-negative budget read ahead but the anchor did not need, into FateUnsampled.
func (e *explainer) finish() {
	for i := range e.list {
		if e.list[i].Fate == fateWindow {
			e.list[i].Fate = FateUnsampled
		}
	}
}
