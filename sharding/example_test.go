package sharding_test

import (
	"fmt"
	"sync/atomic"

	"github.com/zonecache/zonecache/sharding"
)

func Example() {
	nodes := []sharding.Node{
		{ID: "a", Addr: "10.0.0.1:11211"},
		{ID: "b", Addr: "10.0.0.2:11211"},
		{ID: "c", Addr: "10.0.0.3:11211", Weight: 2},
	}
	ring, err := sharding.New(nodes, sharding.Config{HashTagDelimiter: ":"})
	if err != nil {
		panic(err)
	}
	// Keys with the same tag ("user42") share a node.
	n1, _ := ring.Lookup("user42:name")
	n2, _ := ring.Lookup("user42:avatar")
	fmt.Println(n1.ID == n2.ID)

	// Publish rings atomically; readers Load, writers Store a new ring.
	var current atomic.Pointer[sharding.Ring]
	current.Store(ring)
	bigger, err := sharding.New(append(nodes, sharding.Node{ID: "d", Addr: "10.0.0.4:11211"}), sharding.Config{HashTagDelimiter: ":"})
	if err != nil {
		panic(err)
	}
	current.Store(bigger)
	fmt.Println(current.Load().Len())
	// Output:
	// true
	// 4
}

// Ketama mode places keys exactly like libmemcached's weighted ketama (and
// twemproxy), so a fleet can be shared with those clients.
func ExampleNew_ketama() {
	ring, err := sharding.New([]sharding.Node{
		{ID: "a", Addr: "10.0.0.1:11211"},
		{ID: "b", Addr: "10.0.0.2:11211"},
		{ID: "c", Addr: "10.0.0.3:11211"},
	}, sharding.Config{Mode: sharding.HashKetama})
	if err != nil {
		panic(err)
	}
	// libmemcached 1.1.4 maps "key0" to server 1 for this list
	// (testdata/ketama_equal3.txt).
	n, _ := ring.Lookup("key0")
	fmt.Println(n.Addr)
	// Output: 10.0.0.2:11211
}

func ExampleRing_Index() {
	ring, err := sharding.New(nil, sharding.Config{})
	if err != nil {
		panic(err)
	}
	fmt.Println(ring.Index([]byte("k")))
	// Output: -1
}

// EVCache mode places keys as EVCache's node locator does (as we read its
// code), for nodes named the VPC way ("ip/ip:11211", derived from an IPv4
// Addr) or by KetamaName.
func ExampleNew_evcache() {
	ring, err := sharding.New([]sharding.Node{
		{ID: "a", Addr: "100.64.0.1:11211"},
		{ID: "b", Addr: "100.64.0.2:11211"},
		{ID: "c", Addr: "100.64.0.3:11211"},
	}, sharding.Config{Mode: sharding.HashKetamaEVCache})
	if err != nil {
		panic(err)
	}
	// testdata/evcache_3.txt, from our own Java reimplementation of EVCache's
	// locator (not EVCache's code), puts "evc:0" on node 2.
	n, _ := ring.Lookup("evc:0")
	fmt.Println(n.ID)
	// Output: c
}
