package replication

import (
	"errors"
	"reflect"
	"strings"
	"testing"
)

func TestWritePolicyRequired(t *testing.T) {
	cases := []struct {
		p       WritePolicy
		counted int
		want    int
	}{
		{None, 3, 0}, {One, 3, 1}, {Quorum, 3, 2}, {Quorum, 4, 3}, {Quorum, 1, 1},
		{AllMinusOne, 3, 2}, {AllMinusOne, 2, 1}, {AllMinusOne, 1, 1}, {All, 3, 3},
		{All, 0, 0}, {One, 0, 0},
	}
	for _, c := range cases {
		if got := c.p.Required(c.counted); got != c.want {
			t.Errorf("%s.Required(%d) = %d, want %d", c.p, c.counted, got, c.want)
		}
	}
}

func TestParseWritePolicyRoundTrip(t *testing.T) {
	for _, p := range []WritePolicy{None, One, Quorum, AllMinusOne, All} {
		got, err := ParseWritePolicy(strings.ToUpper(p.String()))
		if err != nil || got != p {
			t.Fatalf("ParseWritePolicy(%q) = %v, %v", p.String(), got, err)
		}
	}
	if p, err := ParseWritePolicy("ALL_MINUS_1"); err == nil {
		t.Fatalf("ALL_MINUS_1 parsed as %v; only all-minus-one is a name", p)
	}
	if p, _ := ParseWritePolicy("all_minus_one"); p != AllMinusOne {
		t.Fatalf("all_minus_one parsed as %v", p)
	}
	if _, err := ParseWritePolicy("most"); !errors.Is(err, ErrUnknownPolicy) {
		t.Fatalf("ParseWritePolicy(most) err = %v", err)
	}
	var zero WritePolicy
	if zero != AllMinusOne {
		t.Fatal("the zero policy must be the default, all-minus-one")
	}
}

func threeZones() []Node {
	return []Node{
		{ID: "a1", Zone: "a", Addr: "127.0.0.1:1"},
		{ID: "b1", Zone: "b", Addr: "127.0.0.1:2"},
		{ID: "c1", Zone: "c", Addr: "127.0.0.1:3"},
		{ID: "c2", Zone: "c", Addr: "127.0.0.1:4", State: Warming},
	}
}

func TestOutcomeIgnoresWriteOnlyReplicas(t *testing.T) {
	nodes := threeZones()
	o := NewOutcome(All, nodes)
	o.Add(nodes[3], nil) // warming: does not count
	if o.Met() || o.Decided() {
		t.Fatal("a write-only success must not meet the policy")
	}
	o.Add(nodes[0], nil)
	o.Add(nodes[1], nil)
	if o.Met() {
		t.Fatal("all needs 3 counted successes, has 2")
	}
	o.Add(nodes[2], nil)
	if !o.Met() || !o.Decided() || o.Err() != nil {
		t.Fatalf("met=%v decided=%v err=%v", o.Met(), o.Decided(), o.Err())
	}
}

func TestOutcomeDecidesEarlyOnFailures(t *testing.T) {
	nodes := threeZones()
	boom := errors.New("connection refused")
	o := NewOutcome(AllMinusOne, nodes)
	o.Add(nodes[0], boom)
	if o.Decided() {
		t.Fatal("all-minus-one of 3 can still be met after one failure")
	}
	o.Add(nodes[1], boom)
	if !o.Decided() || o.Met() {
		t.Fatalf("two failures of three: decided=%v met=%v", o.Decided(), o.Met())
	}
	err := o.Err()
	if !errors.Is(err, ErrPolicyNotMet) || !errors.Is(err, boom) {
		t.Fatalf("err %v should wrap ErrPolicyNotMet and the replica error", err)
	}
	if !strings.Contains(err.Error(), "a1") || !strings.Contains(err.Error(), "b1") {
		t.Fatalf("err %q should name the failed replicas", err)
	}
	if got := len(o.Failed()); got != 2 {
		t.Fatalf("Failed() has %d results, want 2", got)
	}
}

func TestOutcomeNoneIsMetAtOnce(t *testing.T) {
	o := NewOutcome(None, threeZones())
	if !o.Met() || !o.Decided() {
		t.Fatal("policy none must be met before any result")
	}
}

func TestNodeStates(t *testing.T) {
	type row struct{ reads, writes, counts bool }
	want := map[NodeState]row{
		Joining:  {false, false, false},
		Warming:  {false, true, false},
		Serving:  {true, true, true},
		Draining: {true, false, false},
	}
	for s, w := range want {
		got := row{s.ServesReads(), s.TakesWrites(), s.CountsForPolicy()}
		if got != w {
			t.Errorf("%s: got %+v want %+v", s, got, w)
		}
	}
	if (Node{}).EffectiveState() != Serving {
		t.Fatal("an empty state means serving")
	}
}

func TestReadOrder(t *testing.T) {
	zones := []string{"c", "a", "b", "d"}
	got := ReadOrder(zones, "b", []string{"d", "x", "b"})
	if want := []string{"b", "d", "a", "c"}; !reflect.DeepEqual(got, want) {
		t.Fatalf("ReadOrder = %v, want %v", got, want)
	}
	got = ReadOrder(zones, "nowhere", nil)
	if want := []string{"a", "b", "c", "d"}; !reflect.DeepEqual(got, want) {
		t.Fatalf("ReadOrder with unknown local = %v, want %v", got, want)
	}
}

func TestDecodeTopologyValidates(t *testing.T) {
	good := `{"epoch":7,"nodes":[{"id":"a1","zone":"a","addr":"127.0.0.1:11211"},
		{"id":"b1","zone":"b","addr":"127.0.0.2:11211","weight":2,"state":"warming"}]}`
	top, err := DecodeTopology(strings.NewReader(good))
	if err != nil {
		t.Fatal(err)
	}
	if top.Epoch != 7 || len(top.Nodes) != 2 || !reflect.DeepEqual(top.Zones(), []string{"a", "b"}) {
		t.Fatalf("decoded %+v", top)
	}
	if n := top.ZoneNodes("b", NodeState.ServesReads); len(n) != 0 {
		t.Fatalf("warming node listed as serving reads: %+v", n)
	}
	bad := []string{
		`{"nodes":[{"id":"a1","zone":"a","addr":"127.0.0.1:1"},{"id":"a1","zone":"b","addr":"127.0.0.1:2"}]}`,
		`{"nodes":[{"id":"a1","addr":"127.0.0.1:1"}]}`,
		`{"nodes":[{"id":"a1","zone":"a","addr":"no-port"}]}`,
		`{"nodes":[{"id":"a1","zone":"a","addr":"127.0.0.1:1","state":"sleeping"}]}`,
		`{"nodes":[{"id":"a1","zone":"a","addr":"127.0.0.1:1","weight":-1}]}`,
		`{"nodes":[{"id":"a1","zone":"a","addr":"127.0.0.1:1"},{"id":"a2","zone":"a","addr":"127.0.0.1:1"}]}`,
		`{"nodes":[], "zones": 3}`,
		`not json`,
	}
	for _, b := range bad {
		if _, err := DecodeTopology(strings.NewReader(b)); !errors.Is(err, ErrInvalidTopology) {
			t.Errorf("DecodeTopology(%s) err = %v, want ErrInvalidTopology", b, err)
		}
	}
}
