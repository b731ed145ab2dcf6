package membership

import (
	"testing"
	"time"
)

// A death declared by a member this one had lost contact with, while this
// one kept contact with most of the fleet, is the minority's view: the
// cache stays. Every other refuted death invalidates it.
func TestDeathDeclaredByMinorityKeepsTheCache(t *testing.T) {
	const b = time.Second
	t0 := time.Unix(1000, 0)
	newH := func() *health {
		h := newHealth(&Member{cfg: Config{NodeName: "a-1", ForgetAfter: time.Hour}}, b)
		for _, n := range []string{"a-2", "b-1", "b-2", "c-1", "c-2"} {
			h.known[n] = &peer{alive: true, heard: t0}
		}
		return h
	}
	hear := func(h *health, at time.Time, names ...string) {
		for _, n := range names {
			h.known[n].heard = at
		}
	}

	// Zone c cut off: a-1 hears a and b only, stays in contact with most.
	h := newH()
	cut := t0.Add(3 * b)
	hear(h, cut, "a-2", "b-1", "b-2")
	if _, isolated, _, _, _ := h.check(cut); isolated {
		t.Fatal("a-1 with 4 of 6 members heard is isolated")
	}
	if !h.declaredByMinority("c-1", cut.Add(b)) {
		t.Error("a death declared by c-1, cut off from a-1, invalidated a-1's cache")
	}
	if h.declaredByMinority("b-1", cut.Add(b)) {
		t.Error("a death declared by b-1, in contact with a-1, was taken for the minority's")
	}
	if h.declaredByMinority("c-1", cut.Add(5*b)) {
		t.Error("a death declared long after contact came back was taken for the minority's")
	}
	if h.declaredByMinority("x-9", cut.Add(b)) {
		t.Error("a death declared by an unknown member was taken for the minority's")
	}

	// a-1 itself cut off: every member lapses and a-1 is isolated, so any
	// death declared about it counts.
	h = newH()
	alone := t0.Add(3 * b)
	if _, isolated, _, _, _ := h.check(alone); !isolated {
		t.Fatal("a-1 with no member heard is not isolated")
	}
	hear(h, alone.Add(b), "a-2", "b-1", "b-2", "c-1", "c-2")
	h.check(alone.Add(b))
	if h.declaredByMinority("b-1", alone.Add(2*b)) {
		t.Error("a death declared while a-1 was isolated was taken for the minority's")
	}
}

// In a split into equal halves neither side is the majority: a death
// declared across it still invalidates.
func TestDeathDeclaredAcrossEqualHalvesInvalidates(t *testing.T) {
	const b = time.Second
	t0 := time.Unix(1000, 0)
	h := newHealth(&Member{cfg: Config{NodeName: "a-1", ForgetAfter: time.Hour}}, b)
	for _, n := range []string{"a-2", "b-1", "c-1", "c-2", "c-3"} {
		h.known[n] = &peer{alive: true, heard: t0}
	}
	split := t0.Add(3 * b)
	h.known["a-2"].heard, h.known["b-1"].heard = split, split
	if _, isolated, _, _, _ := h.check(split); isolated {
		t.Fatal("a-1 with 3 of 6 members heard is isolated")
	}
	if h.declaredByMinority("c-1", split.Add(b)) {
		t.Error("a death declared across equal halves was taken for the minority's")
	}
}

func TestDeclarerIsTheNameInFrom(t *testing.T) {
	for line, want := range map[string]string{
		"[WARN] memberlist: Refuting a dead message (from: c-1)": "c-1",
		"[WARN] memberlist: Refuting a dead message":             "",
		"(from: b-2": "",
	} {
		if got := declarer(line); got != want {
			t.Errorf("declarer(%q) = %q, want %q", line, got, want)
		}
	}
}
