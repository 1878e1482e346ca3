//go:build cuda

package cuda

import (
	"runtime"
	"strings"
	"testing"

	"gorgonia.org/cu"
)

// TestJITFailure loads invalid PTX and checks that the error carries the
// JIT's log.
func TestJITFailure(t *testing.T) {
	b := open(t) // retains the primary context
	defer b.Close()
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	if err := cu.SetCurrentContext(b.drv.(*cuDriver).ctx); err != nil {
		t.Fatal(err)
	}
	bad := ".version 7.8\n.target sm_75\n.address_size 64\n.visible .entry broken(\n.param .u64 p\n)\n{\n\tthis is not ptx;\n}\n"
	_, err := loadPTX("broken", bad)
	if err == nil {
		t.Fatal("invalid PTX loaded without error")
	}
	t.Log(err)
	if strings.Contains(err.Error(), "(empty JIT log)") {
		t.Errorf("error %q does not carry the JIT log", err)
	}
}
