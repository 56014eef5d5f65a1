//go:build !unix

package jwtauth

import "time"

func cpuTime() time.Duration { return 0 }
