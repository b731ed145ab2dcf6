package nodeclient_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"log/slog"
	"net"

	"github.com/zonecache/zonecache/nodeclient"
	"github.com/zonecache/zonecache/server"
)

// One node, run here in process so the example runs; against a fleet the
// address is a zonecached or memcached node's. A miss is ErrCacheMiss.
func ExampleNode_Online() {
	ctx := context.Background()
	srv, err := server.New(server.Config{Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		log.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		log.Fatal(err)
	}
	go func() { _ = srv.Serve(ctx, ln) }()
	defer srv.Close()

	node := nodeclient.NewNode(ln.Addr().String(), nodeclient.Config{})
	defer node.Close()

	if _, err := node.Online().Get(ctx, "user:42"); errors.Is(err, nodeclient.ErrCacheMiss) {
		fmt.Println("miss")
	}
	if err := node.Online().Set(ctx, nodeclient.Item{Key: "user:42", Value: []byte("Ada"), TTL: 60}); err != nil {
		log.Fatal(err)
	}
	it, err := node.Online().Get(ctx, "user:42")
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("%s, expires: %v\n", it.Value, it.TTL > 0)
	// Output:
	// miss
	// Ada, expires: true
}
