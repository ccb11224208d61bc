package main

import "testing"

// The pool must be the Rust binaries' byte for byte (src/lib.rs value_pool, fastrand 2.5 from
// seed 7): these hashes were printed by that function (h = 31 h + byte over all 1024 values).
func TestValuePoolMatchesRust(t *testing.T) {
	for size, want := range map[int]uint64{10: 3993521395474176384, 100: 12447508668426354995, 1000: 15142006667450541849} {
		var h uint64
		for _, v := range valuePool(size) {
			for _, b := range v {
				h = h*31 + uint64(b)
			}
		}
		if h != want {
			t.Errorf("size %d: pool hash %d, want %d", size, h, want)
		}
	}
}
