//go:build unix

package jwtauth

import (
	"syscall"
	"time"
)

// cpuTime is the CPU time the process has used so far, user and system, in
// every thread (the garbage collector's included), or 0 if unknown.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
