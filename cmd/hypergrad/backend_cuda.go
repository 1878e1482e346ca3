//go:build cuda

package main

// Built with -tags cuda, the command offers -backend cuda (an NVIDIA GPU
// through gorgonia.org/cu); without the tag, -backend cuda answers that the
// binary was built without it.
import _ "github.com/hypergrad-go/hypergrad/backend/cuda"
