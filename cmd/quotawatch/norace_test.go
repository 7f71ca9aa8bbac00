//go:build !race

package main

// raceEnabled reports whether the tests run with -race; the binary they
// drive is then built with -race too.
const raceEnabled = false
