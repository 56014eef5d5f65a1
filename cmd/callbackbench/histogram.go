package main

import (
	"math"
	"time"
)

// histogram counts latencies: 1 µs buckets below 10 ms, 100 µs buckets up
// to 1 s, and one bucket beyond.
type histogram struct {
	counts [histFine + histCoarse + 1]uint64
}

const (
	histFine   = 10_000
	histCoarse = 9_900
)

func (h *histogram) add(d time.Duration) {
	us := d.Microseconds()
	switch {
	case us < histFine:
		h.counts[us]++
	case us < 1_000_000:
		h.counts[histFine+(us-histFine)/100]++
	default:
		h.counts[len(h.counts)-1]++
	}
}

func (h *histogram) merge(o *histogram) {
	for i, c := range o.counts {
		h.counts[i] += c
	}
}

// quantile is the latency below which a fraction q of the requests were
// answered (the middle of its bucket).
func (h *histogram) quantile(q float64) time.Duration {
	var total uint64
	for _, c := range h.counts {
		total += c
	}
	if total == 0 {
		return 0
	}
	rank := uint64(math.Ceil(q * float64(total)))
	var seen uint64
	for i, c := range h.counts {
		seen += c
		if seen >= rank && c > 0 {
			switch {
			case i < histFine:
				return time.Duration(i)*time.Microsecond + 500*time.Nanosecond
			case i < histFine+histCoarse:
				return time.Duration(histFine+(i-histFine)*100+50) * time.Microsecond
			default:
				return time.Second
			}
		}
	}
	return time.Second
}
