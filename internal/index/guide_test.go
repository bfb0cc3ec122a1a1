package index

import (
	"errors"
	"testing"

	"github.com/hardneg/hardneg/internal/engine"
)

// A collection keeps one guide role while any request holds it and, once a request
// used it, for good; a role only refused requests held is given up with the last.
func TestGuideRoleIsKeptOnlyOnceUsed(t *testing.T) {
	db := testDB(t)
	c, err := db.create(engine.Config{Name: "a", Dim: 4, Metric: engine.Cosine, Params: fastParams})
	if err != nil {
		t.Fatal(err)
	}
	claim := func(asGuide bool) func(bool) {
		t.Helper()
		release, err := c.ClaimGuideRole(asGuide)
		if err != nil {
			t.Fatalf("claim (guide %v): %v", asGuide, err)
		}
		return release
	}
	refused := func(asGuide bool) {
		t.Helper()
		if _, err := c.ClaimGuideRole(asGuide); !errors.Is(err, engine.ErrGuideRole) {
			t.Fatalf("claim (guide %v) while in the other role: %v", asGuide, err)
		}
	}

	// Two requests hold the mined role; the first is refused before searching. The
	// role stays while the second holds it, and goes with it when it too is refused.
	r1, r2 := claim(false), claim(false)
	r1(false)
	r1(true) // a second release is ignored
	refused(true)
	r2(false)
	r3 := claim(true) // free again
	refused(false)
	// A request that searched keeps the role for good.
	r3(true)
	refused(false)
	claim(true)(false)
	refused(false)
}
