package backend_test

import (
	"errors"
	"testing"

	"github.com/hypergrad-go/hypergrad/backend"
	_ "github.com/hypergrad-go/hypergrad/backend/cpu"
)

func TestOpen(t *testing.T) {
	b, err := backend.Open("cpu")
	if err != nil || b.Name() != "cpu" {
		t.Fatalf("Open(cpu) = %v, %v", b, err)
	}
	b.Close()
	if _, err := backend.Open("cuda"); !errors.Is(err, backend.ErrNotBuilt) ||
		err.Error() != "hypergrad was built without the cuda tag (go build -tags cuda)" {
		t.Errorf("Open(cuda) without the tag: %v", err)
	}
	if _, err := backend.Open("cuda-f32"); !errors.Is(err, backend.ErrNotBuilt) {
		t.Errorf("Open(cuda-f32) without the tag: %v", err)
	}
	if _, err := backend.Open("tpu"); err == nil {
		t.Error("Open(tpu) succeeded")
	}
	if names := backend.Names(); len(names) == 0 || names[0] != "cpu" {
		t.Errorf("Names() = %v", names)
	}
}
