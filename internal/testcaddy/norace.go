//go:build !race

package testcaddy

const raceEnabled = false
