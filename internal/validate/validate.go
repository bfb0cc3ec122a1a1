// Package validate carries input-validation failures from the domain packages to the
// API edge. A *validate.Error lists every offending field with a reason; the server maps
// it to INVALID_ARGUMENT with a google.rpc.BadRequest detail, so a client can tell which
// field and which item of a batch was bad.
package validate

import (
	"fmt"
	"strings"
)

// Violation names one bad field. Field uses the request's field path with indices, for
// example "items.ids[3]" or "anchors[2].positive_vectors".
type Violation struct {
	Field       string
	Description string
}

// Error is a validation failure. Nothing of the request it belongs to has been applied.
type Error struct {
	Violations []Violation
}

// maxViolations bounds how many violations one error carries.
const maxViolations = 32

// Error implements error.
func (e *Error) Error() string {
	parts := make([]string, len(e.Violations))
	for i, v := range e.Violations {
		parts[i] = v.Field + ": " + v.Description
	}
	return "invalid argument: " + strings.Join(parts, "; ")
}

// Add records a violation. It keeps at most 32; later ones are dropped.
func (e *Error) Add(field, format string, args ...any) {
	if len(e.Violations) < maxViolations {
		e.Violations = append(e.Violations, Violation{Field: field, Description: fmt.Sprintf(format, args...)})
	}
}

// Err returns e as an error when it holds violations, else nil.
func (e *Error) Err() error {
	if e == nil || len(e.Violations) == 0 {
		return nil
	}
	return e
}

// Field returns an error with one violation.
func Field(field, format string, args ...any) error {
	e := &Error{}
	e.Add(field, format, args...)
	return e
}
