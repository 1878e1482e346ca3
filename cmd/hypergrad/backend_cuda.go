//go:build cuda || cudaemu

package main

// Built with -tags cuda, the command offers -backend cuda and cuda-f32 (an
// NVIDIA GPU through gorgonia.org/cu). Built with -tags cudaemu instead, the
// same backend runs its host code and kernels on the CPU emulator of
// backend/cuda (no GPU, a C++ compiler at run time, slow): the whole CUDA
// path can then be run end to end on real data files. Without either tag,
// -backend cuda answers that the binary was built without it.
import _ "github.com/hypergrad-go/hypergrad/backend/cuda"
