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
		// 2·5·1 s + 1 s + 6·3·1·1 s + 2·1·100 ms
		{Config{Profile: "local"}, 6, 29200 * time.Millisecond},
		{Config{Profile: "local", ProbeInterval: 500 * time.Millisecond}, 6, 14700 * time.Millisecond},
		// lan, 20 members: 2·19·1 s + 1 s + 6·4·log10(20)·1 s + 4·2·200 ms
		{Config{}, 20, 38*time.Second + time.Second + 31224719896*time.Nanosecond + 1600*time.Millisecond},
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
