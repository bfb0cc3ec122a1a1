package weaviate

import (
	"regexp"
	"testing"
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
	for _, class := range []string{"HardnegMeta", "Other_docs", "Hardneg_", "Hardneg_a_x", "Hardneg_a_"} {
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
