package client

import (
	"fmt"
	"math/rand/v2"
	"testing"
	"time"
)

// nearHitRatio replays reads of zipf-popular keys through a near cache
// with room for about 500 of them, every read a put on a miss, with one
// read of a never-seen key (a scan) after each popular read when scan is
// set; it returns the popular reads' hit ratio.
func nearHitRatio(t *testing.T, scan bool) float64 {
	n, err := newNearCache(NearCacheConfig{MaxBytes: 500 * (nearOverhead + 40), TTL: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	defer n.cache.StopAllGoroutines()
	zipf := rand.NewZipf(rand.New(rand.NewPCG(7, 8)), 1.01, 1, 9999)
	hits, reads := 0, 0
	for i := range 60_000 {
		key := fmt.Sprintf("pop-%d", zipf.Uint64())
		if _, ok := n.get(key); ok {
			hits++
		} else {
			n.put(key, n.gen(key), Item{Key: key, Value: []byte("v")}, "", time.Now())
		}
		reads++
		if scan {
			cold := fmt.Sprintf("scan-%d", i)
			n.put(cold, n.gen(cold), Item{Key: cold, Value: []byte("v")}, "", time.Now())
		}
	}
	return float64(hits) / float64(reads)
}

// The near cache's admission resists scans: a stream of one-time keys as
// long as the popular reads barely lowers their hit ratio (an LRU would
// keep mostly scan keys).
func TestNearCacheResistsScans(t *testing.T) {
	plain, scanned := nearHitRatio(t, false), nearHitRatio(t, true)
	t.Logf("zipf hit ratio %.3f, with a one-time key after every read %.3f", plain, scanned)
	if scanned < 0.8*plain {
		t.Fatalf("hit ratio under a scan %.3f, below 80 %% of %.3f", scanned, plain)
	}
}
