package membership

import (
	"fmt"
	"math"
	"time"

	"github.com/hashicorp/memberlist"
)

// timings returns memberlist's preset for profile ("" is "lan"), with the
// probe interval overridden when probeInterval is positive; the probe
// timeout is then capped at half the interval.
func timings(profile string, probeInterval time.Duration) (*memberlist.Config, error) {
	var mc *memberlist.Config
	switch profile {
	case "", "lan":
		mc = memberlist.DefaultLANConfig()
	case "local":
		mc = memberlist.DefaultLocalConfig()
	case "wan":
		mc = memberlist.DefaultWANConfig()
	default:
		return nil, fmt.Errorf("membership: unknown profile %q (want lan, local or wan)", profile)
	}
	if probeInterval > 0 {
		mc.ProbeInterval = probeInterval
		if mc.ProbeTimeout > probeInterval/2 {
			mc.ProbeTimeout = probeInterval / 2
		}
	}
	return mc, nil
}

// FailureDetectionTime is the longest a fleet of members members, all
// started with cfg's Profile and ProbeInterval, takes from a member's
// death (a crash, not a Leave) until every live member has dropped it from
// its topology. With memberlist's timings (PI the probe interval, n the
// members, log10 floored at 1 as memberlist does) it is the sum of
//
//   - 2(n-1)·PI until a live member probes the dead one: each member probes
//     the others round robin, one per PI, reshuffling after every round;
//   - PI for the failed probe itself (direct ping, probe timeout, indirect
//     pings, all within the interval) before the member is suspected;
//   - SuspicionMaxTimeoutMult·SuspicionMult·max(1, log10 n)·PI of suspicion,
//     the longest a suspicion lasts (it shrinks towards
//     SuspicionMult·max(1, log10 n)·PI as other members confirm it);
//   - RetransmitMult·ceil(log10(n+1)) gossip intervals for the death to
//     spread to every member.
//
// For the "local" preset (PI 1 s, SuspicionMult 3, SuspicionMaxTimeoutMult
// 6, RetransmitMult 2, gossip every 100 ms) and 6 members that is
// 10 s + 1 s + 18 s + 0.2 s = 29.2 s; with ProbeInterval 500 ms, 14.7 s.
// A member is usually declared dead much sooner: other members' probes
// confirm the suspicion, which then ends after its minimum.
func FailureDetectionTime(cfg Config, members int) (time.Duration, error) {
	mc, err := timings(cfg.Profile, cfg.ProbeInterval)
	if err != nil {
		return 0, err
	}
	n := max(members, 1)
	pi := mc.ProbeInterval
	scale := math.Max(1, math.Log10(float64(n)))
	suspicion := time.Duration(float64(mc.SuspicionMaxTimeoutMult*mc.SuspicionMult) * scale * float64(pi))
	spread := time.Duration(mc.RetransmitMult*int(math.Ceil(math.Log10(float64(n+1))))) * mc.GossipInterval
	return time.Duration(2*(n-1))*pi + pi + suspicion + spread, nil
}
