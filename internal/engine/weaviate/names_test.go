package weaviate

import (
	"fmt"
	"regexp"
	"testing"

	"github.com/weaviate/weaviate/entities/models"
)

func TestClassNamesAreValidAndOneToOne(t *testing.T) {
	valid := regexp.MustCompile(`^[A-Z][_0-9A-Za-z]*$`)
	seen := map[string]string{}
	for _, name := range []string{"docs", "Docs", "a_b", "a.b", "a-b", "a_ub", "a_u", "_", "..a", "x-_.y", "0", "a__b"} {
		class := className("Hardneg", name)
		if !valid.MatchString(class) {
			t.Errorf("%q → %q: not a valid Weaviate collection name", name, class)
		}
		if other, dup := seen[class]; dup {
			t.Errorf("%q and %q both map to %q", name, other, class)
		}
		seen[class] = name
		back, ok := collectionName("Hardneg", class)
		if !ok || back != name {
			t.Errorf("%q → %q → %q, %v", name, class, back, ok)
		}
	}
	for _, class := range []string{"HardnegMeta", "HardnegLoop", "Other_docs", "Hardneg_", "Hardneg_a_x", "Hardneg_a_"} {
		if name, ok := collectionName("Hardneg", class); ok {
			t.Errorf("%q taken for the collection %q", class, name)
		}
	}
}

func TestObjectIDsAreDeterministicPerCollection(t *testing.T) {
	if objectID("c", "x") != objectID("c", "x") {
		t.Error("the same item got two ids")
	}
	if objectID("c", "x") == objectID("d", "x") || objectID("c", "x\x00") == objectID("c\x00", "x") {
		t.Error("items of different collections share an id")
	}
}

func TestOptionsDefaultsAndChecks(t *testing.T) {
	o, err := Options{Addr: "a:1", GRPCAddr: "a:2"}.withDefaults()
	if err != nil || o.Consistency != "QUORUM" || o.ReplicationFactor != 1 || o.Prefix != "Hardneg" || o.Timeout == 0 {
		t.Fatalf("defaults = %+v, %v", o, err)
	}
	for _, bad := range []Options{
		{GRPCAddr: "a:2"},
		{Addr: "a:1", GRPCAddr: "a:2", Consistency: "TWO"},
		{Addr: "a:1", GRPCAddr: "a:2", ReplicationFactor: -1},
		{Addr: "a:1", GRPCAddr: "a:2", Prefix: "lower"},
	} {
		if _, err := bad.withDefaults(); err == nil {
			t.Errorf("%+v accepted", bad)
		}
	}
}

func TestLoopStateObjectIDsSeparateIncarnationsMinersAndSaves(t *testing.T) {
	seen := map[string]string{}
	add := func(what, id string) {
		t.Helper()
		if other, dup := seen[id]; dup {
			t.Errorf("%s and %s share the object id %s", what, other, id)
		}
		seen[id] = what
	}
	for _, inc := range []string{"", "i1", "i2"} {
		for _, m := range []string{"a", "b", "a-b"} {
			add("head "+inc+"/"+m, loopHeadID("c", inc, m))
			for _, gen := range []int64{1, 2} {
				for p := range 2 {
					add(fmt.Sprint("part ", inc, "/", m, "/", gen, "/", p), loopPartID("c", inc, m, gen, p))
				}
			}
		}
	}
	if loopHeadID("c", "i1", "a") != loopHeadID("c", "i1", "a") {
		t.Fatal("head ids are not deterministic")
	}
}

func TestConfigOfReadsTheIncarnation(t *testing.T) {
	desc := descriptionPrefix + `{"name":"c","dim":4,"metric":"cosine","m":16,"ef_construction":200,"ef_search":64,"exact_threshold":0`
	for _, tc := range []struct{ json, want string }{{desc + `}`, ""}, {desc + `,"incarnation":"x-1"}`, "x-1"}} {
		cfg, inc, ok := configOf(&models.Class{Description: tc.json})
		if !ok || cfg.Name != "c" || cfg.Dim != 4 || inc != tc.want {
			t.Errorf("%s: %+v, incarnation %q, %v; want %q", tc.json, cfg, inc, ok, tc.want)
		}
	}
}
