package main

import (
	"bytes"
	"strings"
	"testing"

	"github.com/zonecache/zonecache/internal/testproc"
)

// TestMemcachedFlagsCarriedOver: a memcached command line's -t, -U 0 and
// -B ascii start zonecached (-t sets the threads that "stats" reports, as
// memcached's does), and asking for UDP, the binary protocol or no
// threads is refused with what to give.
func TestMemcachedFlagsCarriedOver(t *testing.T) {
	var errs bytes.Buffer
	o, err := parseFlags([]string{"-t", "3", "-U", "0", "-B", "ascii"}, &errs)
	if err != nil || o.threads != 3 {
		t.Fatalf("-t 3 -U 0 -B ascii: %v, threads %d", err, o.threads)
	}
	if o, err := parseFlags(nil, &errs); err != nil || o.threads != 0 {
		t.Fatalf("defaults: %v, threads %d, want 0 (Go's default)", err, o.threads)
	}
	for _, c := range []struct{ args, want string }{
		{"-U 11211", "serves no UDP: give -U 0"},
		{"-B binary", "text protocol only"},
		{"-B auto", "give -B ascii"},
		{"-t -1", "positive number of threads"},
	} {
		if _, err := parseFlags(strings.Fields(c.args), &errs); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v, want an error saying %q", c.args, err, c.want)
		}
	}

	// 7: more than the CPUs of the machines tests run on, so that Go's
	// default cannot pass for it.
	p := testproc.StartZonecached(t, "-t", "7", "-U", "0", "-B", "ascii")
	c, r := dialLine(t, p.Addr)
	if v := statValue(t, c, r, "threads"); v != 7 {
		t.Fatalf("stats threads %d with -t 7, want 7", v)
	}
}
