package client_test

import (
	"context"
	"fmt"
	"log"
	"log/slog"
	"net"

	"github.com/zonecache/zonecache/client"
	"github.com/zonecache/zonecache/replication"
	"github.com/zonecache/zonecache/server"
)

// The one-node development setup: a single zonecached (started here in
// process, as `make run-node` or `zonecached -p 11211` starts it) and a
// client whose topology is that node alone, in one zone.
func Example_oneNode() {
	ctx := context.Background()
	srv, err := server.New(server.Config{Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		log.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0") // zonecached's default is 127.0.0.1:11211
	if err != nil {
		log.Fatal(err)
	}
	go func() { _ = srv.Serve(ctx, ln) }()
	defer srv.Close()

	c, err := client.New(client.Config{
		Zone: "dev",
		Topology: replication.Topology{Epoch: 1, Nodes: []replication.Node{
			{ID: "dev-1", Zone: "dev", Addr: ln.Addr().String()},
		}},
	})
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()
	if _, err := c.Set(ctx, client.Item{Key: "greeting", Value: []byte("hello")}); err != nil {
		log.Fatal(err)
	}
	item, err := c.Get(ctx, "greeting")
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("%s\n", item.Value)
	// Output: hello
}
