package bench

import (
	"sync"
	"testing"
)

func TestZoneCountersConcurrent(t *testing.T) {
	var zc ZoneCounters
	if len(zc.ZoneStats()) != 0 {
		t.Fatal("zero value not empty")
	}
	var wg sync.WaitGroup
	for w := 0; w < 4; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 1000; i++ {
				zc.Record("us-east-1b", ZoneHit, false)
				zc.Record("us-east-1a", ZoneMiss, true)
				zc.Record("us-east-1a", ZoneError, true)
				zc.Record("us-east-1c", ZoneOK, false)
			}
		}()
	}
	wg.Wait()
	got := zc.ZoneStats()
	want := []ZoneStats{
		{Zone: "us-east-1a", Requests: 8000, Misses: 4000, Errors: 4000, Fallbacks: 8000},
		{Zone: "us-east-1b", Requests: 4000, Hits: 4000},
		{Zone: "us-east-1c", Requests: 4000},
	}
	if len(got) != len(want) {
		t.Fatalf("zones %+v", got)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("zone %d = %+v, want %+v", i, got[i], want[i])
		}
	}
	if n := testing.AllocsPerRun(100, func() { zc.Record("us-east-1a", ZoneHit, false) }); n != 0 {
		t.Fatalf("Record allocates %v times in a known zone", n)
	}
}
