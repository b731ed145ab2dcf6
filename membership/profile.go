package membership

import (
	"fmt"
	"math"
	"time"

	"github.com/hashicorp/memberlist"
)

// minRetransmitMult is the least RetransmitMult any profile gets. A member
// passes each update (a join, a state change, a death) to
// RetransmitMult·ceil(log10(n+1)) random peers, so memberlist's local preset
// (2) reaches only 2 peers per member in a fleet of under 10, and its lan
// preset only 4: in a 6-node fleet a member regularly missed a join and
// learnt it only at its next push-pull sync, 15 to 30 s later, while
// clients must see a join within 3 s. With 8 peers per member, a member
// misses an update with odds of about (5/6)^(8·informed members), so that
// push-pull is a backstop only; updates are a few dozen bytes.
const minRetransmitMult = 8

// localPushPull is the local profile's push-pull interval (memberlist's is
// 15 s): the full-state sync that repairs a missed update. On one host a
// sync of a small fleet costs next to nothing.
const localPushPull = 2 * time.Second

// timings returns memberlist's preset for profile ("" is "lan"), with the
// probe interval overridden when probeInterval is positive; the probe
// timeout is then capped at half the interval and the dead-node window
// (GossipToTheDeadTime) scaled by the same factor. Every profile retransmits
// updates to at least minRetransmitMult·ceil(log10(n+1)) peers, and the
// local one syncs full state every localPushPull.
func timings(profile string, probeInterval time.Duration) (*memberlist.Config, error) {
	var mc *memberlist.Config
	switch profile {
	case "", "lan":
		mc = memberlist.DefaultLANConfig()
	case "local":
		mc = memberlist.DefaultLocalConfig()
		mc.PushPullInterval = localPushPull
	case "wan":
		mc = memberlist.DefaultWANConfig()
	default:
		return nil, fmt.Errorf("membership: unknown profile %q (want lan, local or wan)", profile)
	}
	mc.RetransmitMult = max(mc.RetransmitMult, minRetransmitMult)
	if probeInterval > 0 {
		// The dead-node window scales with the probe interval too: a
		// fleet tuned to detect deaths 5 times faster forgets them 5
		// times sooner (the rejoin loop merges partitions back).
		mc.GossipToTheDeadTime = time.Duration(float64(mc.GossipToTheDeadTime) * float64(probeInterval) / float64(mc.ProbeInterval))
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
//     pings, all within the interval), after which the member suspects it;
//   - SuspicionMaxTimeoutMult·SuspicionMult·max(1, log10 n)·PI of suspicion,
//     the longest a suspicion lasts (it shrinks towards
//     SuspicionMult·max(1, log10 n)·PI as other members confirm it).
//
// Every live member probes the dead one itself, so each reaches the verdict
// within that sum even if the gossip of the death missed it; gossip usually
// brings it much sooner. For the "local" preset (PI 1 s, SuspicionMult 3,
// SuspicionMaxTimeoutMult 6) and 6 members that is 10 s + 1 s + 18 s =
// 29 s; with ProbeInterval 500 ms, 14.5 s. A dead member is usually dropped
// within a few seconds: other members' probes confirm the suspicion, which
// then ends after its minimum (3·PI here).
func FailureDetectionTime(cfg Config, members int) (time.Duration, error) {
	mc, err := timings(cfg.Profile, cfg.ProbeInterval)
	if err != nil {
		return 0, err
	}
	n := max(members, 1)
	pi := mc.ProbeInterval
	scale := math.Max(1, math.Log10(float64(n)))
	suspicion := time.Duration(float64(mc.SuspicionMaxTimeoutMult*mc.SuspicionMult) * scale * float64(pi))
	return time.Duration(2*(n-1))*pi + pi + suspicion, nil
}
