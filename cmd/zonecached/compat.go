package main

import (
	"flag"
	"fmt"
)

// compatOptions are memcached flags that service units and scripts carry
// over when they start zonecached in memcached's place: -t, and -U and -B
// where they ask for what zonecached serves anyway (no UDP, text
// protocol). Each of them asking for something else is refused with what
// to give, never ignored.
type compatOptions struct {
	threads  int
	udpPort  int
	protocol string
}

func (o *compatOptions) register(fs *flag.FlagSet) {
	fs.IntVar(&o.threads, "t", 0, "`threads` running Go code at once (GOMAXPROCS), as memcached's -t sets its worker threads; 0: Go's default, the CPUs the process may use")
	fs.IntVar(&o.udpPort, "U", 0, "UDP `port`, as memcached's -U: only 0 (no UDP, memcached 1.6's default) is accepted; zonecached serves no UDP")
	fs.StringVar(&o.protocol, "B", "ascii", "binding `protocol`, as memcached's -B: only ascii is accepted; a binary-protocol request closes the connection at once")
}

// check refuses a value zonecached cannot honour.
func (o *compatOptions) check() error {
	if o.threads < 0 {
		return fmt.Errorf("-t %d: give a positive number of threads, or 0 for Go's default", o.threads)
	}
	if o.udpPort != 0 {
		return fmt.Errorf("-U %d: zonecached serves no UDP: give -U 0 or leave it out", o.udpPort)
	}
	if o.protocol != "ascii" {
		return fmt.Errorf("-B %s: zonecached serves the text protocol only (text and meta commands): give -B ascii or leave it out", o.protocol)
	}
	return nil
}
