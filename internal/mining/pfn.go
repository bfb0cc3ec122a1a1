package mining

import "math"

// The false-negative model: each negative of an anchor with a known positive gets
//
//	p_fn = σ(PFNIntercept + PFNPositiveSimilarity·sim⁺ + PFNMargin·(s − s⁺))
//
// with sim⁺ the candidate's highest similarity to a known positive, s its score and s⁺
// the anchor's positive score: an estimate of the probability that the negative is an
// unlabelled positive. The coefficients are the pooled logistic regression of
// eval/FINDINGS.md (the top 50 candidates of each anchor, all-MiniLM-L6-v2 embeddings,
// cosine; the chatterbot, docstring, WordNet synonym and WordNet definition sets
// weighted equally). docs/MINING.md describes the model, its reliability and its limits.
// The false-negative budget rule (Policy.PFNBudget) thresholds it.
const (
	PFNIntercept          = -6.83
	PFNPositiveSimilarity = 6.87
	PFNMargin             = 4.56
)

// falseNegativeProbability is the model's p_fn for a candidate with similarity posSim
// to its nearest positive and score s against an anchor with positive score sPlus.
func falseNegativeProbability(posSim, s, sPlus float32) float32 {
	z := PFNIntercept + PFNPositiveSimilarity*float64(posSim) + PFNMargin*float64(s-sPlus)
	return float32(1 / (1 + math.Exp(-z)))
}
