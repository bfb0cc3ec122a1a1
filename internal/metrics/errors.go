package metrics

import "errors"

// Errors returned by this package.
var (
	// errHistogramShape reports a histogram snapshot whose counts do not match its
	// bounds.
	errHistogramShape = errors.New("metrics: histogram counts and bounds differ in length")
)
