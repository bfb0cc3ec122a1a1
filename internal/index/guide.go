package index

import (
	"fmt"

	"github.com/hardneg/hardneg/internal/engine"
)

// Guide roles of a collection (Collection.guideRole).
const (
	guideRoleNone  int32 = iota
	guideRoleMined       // mined with guide rules: its search looks up a guide collection
	guideRoleGuide       // looked up as the guide collection of another collection's search
)

// ClaimGuideRole records that the collection is about to be mined with guide rules
// (asGuide false) or looked up as another collection's guide (asGuide true), and fails
// with ErrGuideRole when it already served in the other role since the process started.
//
// A guide lookup takes the guide collection's read lock while the mined collection's
// search holds its own. Were a collection allowed in both roles, a request mining A
// with guide B and one mining B with guide A could each hold one read lock and wait for
// the other behind a queued writer. Keeping every collection in one role makes the
// "mined, then guide" nesting a strict order between two sets of collections.
func (c *Collection) ClaimGuideRole(asGuide bool) error {
	want := guideRoleMined
	if asGuide {
		want = guideRoleGuide
	}
	if c.guideRole.CompareAndSwap(guideRoleNone, want) || c.guideRole.Load() == want {
		return nil
	}
	if asGuide {
		return fmt.Errorf("collection %q is mined with guide rules, so it cannot be another collection's guide: %w", c.name, engine.ErrGuideRole)
	}
	return fmt.Errorf("collection %q is another collection's guide, so it cannot be mined with guide rules: %w", c.name, engine.ErrGuideRole)
}
