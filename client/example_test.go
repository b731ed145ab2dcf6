package client_test

import (
	"context"
	"fmt"
	"log"
	"net/http"
	"time"

	"github.com/zonecache/zonecache/client"
	"github.com/zonecache/zonecache/replication"
)

// A client in zone "a" of a fleet of three zones, two nodes each. No
// connection is made until the first request.
func ExampleNew() {
	c, err := client.New(client.Config{
		Zone: "a",
		Topology: replication.Topology{Epoch: 1, Nodes: []replication.Node{
			{ID: "a0", Zone: "a", Addr: "10.0.1.10:11211"},
			{ID: "a1", Zone: "a", Addr: "10.0.1.11:11211"},
			{ID: "b0", Zone: "b", Addr: "10.0.2.10:11211"},
			{ID: "b1", Zone: "b", Addr: "10.0.2.11:11211"},
			{ID: "c0", Zone: "c", Addr: "10.0.3.10:11211"},
			{ID: "c1", Zone: "c", Addr: "10.0.3.11:11211"},
		}},
		KeyPrefix:   "profiles:",
		WritePolicy: replication.Quorum,
	})
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()
	fmt.Println(c.Topology().Zones())
	// Output: [a b c]
}

// Read-through with herd protection: one caller in the fleet loads a
// missing key, the others wait for its value.
func ExampleClient_GetOrLoad() {
	var c *client.Client // from client.New
	ctx := client.WithRequestScope(context.Background())
	item, err := c.GetOrLoad(ctx, "user:42", 10*time.Minute, func(ctx context.Context) ([]byte, error) {
		return []byte(`{"name":"Ada"}`), nil // the origin
	})
	if err != nil {
		log.Print(err)
		return
	}
	fmt.Printf("%s\n", item.Value)
}

// Writes report the replicas that failed; the policy decides the error.
func ExampleClient_Set() {
	var c *client.Client // from client.New
	res, err := c.Set(context.Background(), client.Item{Key: "user:42", Value: []byte("v"), TTL: time.Hour})
	if err != nil {
		log.Printf("policy %v not met: %v", res.Policy, err)
	}
	for _, f := range res.Failed {
		log.Printf("replica %s in zone %s failed: %v", f.Node.ID, f.Node.Zone, f.Err)
	}
}

// Bulk work goes through the batch pools, apart from online traffic.
func ExampleClient_Batch() {
	var c *client.Client // from client.New
	bulk := c.Batch()
	for i := 0; i < 1000; i++ {
		_, _ = bulk.Add(context.Background(), client.Item{Key: fmt.Sprint("warm:", i), Value: []byte("x")})
	}
}

// The hot keys of this process on the service's own admin mux: GET
// /debug/zonecache/hotkeys?n=10 answers
// {"enabled":true,"keys":[{"key":"user:42","share":0.21,"rate":840.5}]}.
func ExampleClient_HotKeysHandler() {
	var c *client.Client // from client.New, with Config.HotKeys.Enabled
	admin := http.NewServeMux()
	admin.Handle("/debug/zonecache/hotkeys", c.HotKeysHandler())
	go func() { log.Print(http.ListenAndServe("127.0.0.1:9100", admin)) }()
}
