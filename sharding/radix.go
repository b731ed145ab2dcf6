package sharding

import "slices"

// sortEntries sorts entries pos<<32 | rank ascending, like slices.Sort but in
// linear time: a stable four-pass radix sort on the 32-bit position, then a
// comparison sort of each run of equal positions (rare: point collisions).
// tmp must have the same length as ent; the result is in one of the two, and
// sortEntries returns it.
func sortEntries(ent, tmp []uint64) []uint64 {
	if len(ent) < 4096 {
		slices.Sort(ent)
		return ent
	}
	src, dst := ent, tmp
	for shift := uint(32); shift < 64; shift += 8 {
		var count [1 << 8]int
		for _, e := range src {
			count[uint8(e>>shift)]++
		}
		sum := 0
		for i, c := range count {
			count[i] = sum
			sum += c
		}
		for _, e := range src {
			d := uint8(e >> shift)
			dst[count[d]] = e
			count[d]++
		}
		src, dst = dst, src
	}
	for i := 0; i < len(src); {
		j := i + 1
		for j < len(src) && src[j]>>32 == src[i]>>32 {
			j++
		}
		if j-i > 1 {
			slices.Sort(src[i:j])
		}
		i = j
	}
	return src
}
