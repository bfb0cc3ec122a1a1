package index

import (
	"fmt"
	"sync"

	"github.com/hardneg/hardneg/internal/engine"
)

// Guide roles of a collection (Collection.guide.role).
const (
	guideRoleNone  int32 = iota
	guideRoleMined       // mined with guide rules: its search looks up a guide collection
	guideRoleGuide       // looked up as the guide collection of another collection's search
)

// guideState is how Mine uses a collection with guide rules: its role, the requests
// holding the role now, and whether one of them got as far as searching.
type guideState struct {
	mu     sync.Mutex
	role   int32
	active int  // requests that claimed the role and have not released it
	used   bool // a request searched in this role: it is kept until the process ends
}

// ClaimGuideRole records that the collection is about to be mined with guide rules
// (asGuide false) or looked up as another collection's guide (asGuide true), and fails
// with ErrGuideRole when it is in the other role. The caller calls release once its
// request is over, with used true when the request got as far as searching: a role
// that some request used is kept until the process ends; one that only requests
// refused before any search held (a typo in a name, an unknown anchor) is given up
// when the last of them releases it.
//
// A guide lookup takes the guide collection's read lock while the mined collection's
// search holds its own. Were a collection allowed in both roles at once, a request
// mining A with guide B and one mining B with guide A could each hold one read lock and
// wait for the other behind a queued writer. Keeping every collection in one role while
// any request holds it makes the "mined, then guide" nesting a strict order between two
// sets of collections.
func (c *Collection) ClaimGuideRole(asGuide bool) (release func(used bool), err error) {
	want := guideRoleMined
	if asGuide {
		want = guideRoleGuide
	}
	g := &c.guide
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.role != guideRoleNone && g.role != want {
		if asGuide {
			return nil, fmt.Errorf("collection %q is mined with guide rules, so it cannot be another collection's guide: %w", c.name, engine.ErrGuideRole)
		}
		return nil, fmt.Errorf("collection %q is another collection's guide, so it cannot be mined with guide rules: %w", c.name, engine.ErrGuideRole)
	}
	g.role = want
	g.active++
	var once sync.Once
	return func(used bool) {
		once.Do(func() {
			g.mu.Lock()
			defer g.mu.Unlock()
			g.active--
			g.used = g.used || used
			if g.active == 0 && !g.used {
				g.role = guideRoleNone
			}
		})
	}, nil
}
