package bilevel

import (
	"encoding/json"
	"testing"
)

// TestKindJSON: a Constant's Kind is written as its name and read back.
func TestKindJSON(t *testing.T) {
	for _, k := range []Kind{Unknown, Estimate, Bound, Exact} {
		b, err := json.Marshal(Constant{Value: 1.5, Kind: k})
		if err != nil {
			t.Fatal(err)
		}
		want := `{"value":1.5,"kind":"` + k.String() + `"}`
		if string(b) != want {
			t.Errorf("%v: got %s, want %s", k, b, want)
		}
		var c Constant
		if err := json.Unmarshal(b, &c); err != nil || c.Kind != k {
			t.Errorf("%v: round trip gave %v, %v", k, c.Kind, err)
		}
	}
	if _, err := json.Marshal(Constant{Kind: Kind(9)}); err == nil {
		t.Error("Kind(9) encoded without an error")
	}
	var c Constant
	if err := json.Unmarshal([]byte(`{"kind":"certain"}`), &c); err == nil {
		t.Error(`"certain" decoded without an error`)
	}
}
