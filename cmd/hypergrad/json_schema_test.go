package main

import (
	"encoding/json"
	"math"
	"os"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// TestGradJSONSchema: docs/json.md lists exactly the fields of grad -json
// (gradOutput's tags), and in the output of real runs (an optimisation
// problem with -exact and a target, a fixed-point problem) every status,
// kind and stop is a string.
func TestGradJSONSchema(t *testing.T) {
	doc, err := os.ReadFile("../../docs/json.md")
	if err != nil {
		t.Fatal(err)
	}
	sec := string(doc)
	sec = sec[strings.Index(sec, "## `hypergrad grad -json`"):]
	sec = sec[:strings.Index(sec, "\n## ")]
	var documented []string
	for _, m := range regexp.MustCompile("(?m)^\\| `([a-z_]+)` \\|").FindAllStringSubmatch(sec, -1) {
		documented = append(documented, m[1])
	}
	var fields []string
	ty := reflect.TypeFor[gradOutput]()
	for i := range ty.NumField() {
		name, _, _ := strings.Cut(ty.Field(i).Tag.Get("json"), ",")
		fields = append(fields, name)
	}
	slices.Sort(documented)
	slices.Sort(fields)
	if !slices.Equal(documented, fields) {
		t.Errorf("docs/json.md documents %v; grad -json writes %v", documented, fields)
	}

	for _, args := range [][]string{
		{"grad", "-problem", "logreg", "-data", "synth:n=200,d=5,seed=1", "-t", "200", "-k", "50", "-target-rel", "1e-4", "-exact", "-estimate", "-json"},
		{"grad", "-problem", "equilibrium", "-data", "synth:n=20,d=3,k=3,c=2,seed=1", "-t", "30", "-k", "20", "-json"},
	} {
		code, stdout, errOut := runCLI(args...)
		if code != exitOK {
			t.Fatalf("%v: exit %d: %s", args, code, errOut)
		}
		var v any
		if err := json.Unmarshal([]byte(stdout), &v); err != nil {
			t.Fatal(err)
		}
		var walk func(path string, x any)
		walk = func(path string, x any) {
			switch x := x.(type) {
			case map[string]any:
				for k, e := range x {
					walk(path+"."+k, e)
				}
			case []any:
				for _, e := range x {
					walk(path+"[]", e)
				}
			default:
				last := path[strings.LastIndex(path, ".")+1:]
				if strings.Contains(last, "status") || strings.Contains(last, "kind") || last == "stop" {
					if _, ok := x.(string); !ok {
						t.Errorf("%v: %s = %v is not a string", args[2], path, x)
					}
				}
			}
		}
		walk("", v)
		if args[2] == "logreg" {
			var o gradOutput
			if err := json.Unmarshal([]byte(stdout), &o); err != nil || o.ErrorEst == nil || o.RelativeError == nil {
				t.Fatalf("logreg -estimate -exact: %v, %+v", err, o)
			}
			// The estimate is close to the true error (absolute: relative error × ‖∇f‖).
			var nf float64
			for _, x := range o.Exact {
				nf += float64(x) * float64(x)
			}
			trueErr := float64(*o.RelativeError) * math.Sqrt(nf)
			if r := *o.ErrorEst / trueErr; trueErr > 1e-12*math.Sqrt(nf) && !(r >= 0.1 && r <= 10) {
				t.Errorf("error estimate %g against the true error %g", *o.ErrorEst, trueErr)
			}
		}
	}
	if code, _, errOut := runCLI("grad", "-method", "itd", "-estimate"); code != exitUsage || !strings.Contains(errOut, "-estimate applies to AID") {
		t.Errorf("-estimate with ITD: exit %d, %q", code, errOut)
	}
}
