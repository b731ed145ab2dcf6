package membership

import (
	"testing"
	"time"
)

func TestFailureDetectionTime(t *testing.T) {
	for _, c := range []struct {
		cfg     Config
		members int
		want    time.Duration
	}{
		// 2·5·1 s + 1 s + 6·3·1·1 s
		{Config{Profile: "local"}, 6, 29 * time.Second},
		{Config{Profile: "local", ProbeInterval: 500 * time.Millisecond}, 6, 14500 * time.Millisecond},
		// lan, 20 members: 2·19·1 s + 1 s + 6·4·log10(20)·1 s
		{Config{}, 20, 38*time.Second + time.Second + 31224719896*time.Nanosecond},
	} {
		got, err := FailureDetectionTime(c.cfg, c.members)
		if err != nil {
			t.Fatal(err)
		}
		if d := got - c.want; d < -time.Millisecond || d > time.Millisecond {
			t.Errorf("FailureDetectionTime(%+v, %d) = %v, want %v", c.cfg, c.members, got, c.want)
		}
	}
	if _, err := FailureDetectionTime(Config{Profile: "fast"}, 3); err == nil {
		t.Error("unknown profile accepted")
	}
}

// Every profile gossips an update to enough peers that a small fleet does
// not depend on push-pull (15 to 60 s) to learn of a join.
func TestTimingsSpreadUpdatesWidely(t *testing.T) {
	for _, p := range []string{"lan", "local", "wan"} {
		mc, err := timings(p, 0)
		if err != nil {
			t.Fatal(err)
		}
		if mc.RetransmitMult < minRetransmitMult {
			t.Errorf("%s: RetransmitMult %d", p, mc.RetransmitMult)
		}
	}
	mc, _ := timings("local", 250*time.Millisecond)
	if mc.PushPullInterval != localPushPull || mc.ProbeInterval != 250*time.Millisecond || mc.ProbeTimeout > 125*time.Millisecond {
		t.Errorf("local with a 250ms probe: push-pull %v, probe %v, timeout %v", mc.PushPullInterval, mc.ProbeInterval, mc.ProbeTimeout)
	}
}
