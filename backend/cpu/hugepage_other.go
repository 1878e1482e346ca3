//go:build !linux

package cpu

// adviseHugePages does nothing outside Linux.
func adviseHugePages(x []float64) {}
