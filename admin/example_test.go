package admin_test

import (
	"context"
	"fmt"
	"log"
	"time"

	"github.com/zonecache/zonecache/admin"
	"github.com/zonecache/zonecache/replication"
)

// Promote a warming node once it has been warmed, as `zonecache promote`
// does, and check the fleet sees it serving.
func ExampleClient_SetState() {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	node := admin.New("127.0.0.1:12211")
	token, err := admin.ReadTokenFile("/etc/zonecache/admin-token") // the node's --admin-token-file
	if err != nil {
		log.Fatal(err)
	}
	node.Token = token
	state, err := node.SetState(ctx, replication.Serving)
	if err != nil {
		log.Fatal(err) // errors.Is(err, admin.ErrNoEndpoint): a standalone node
	}
	top, err := node.Topology(ctx)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(state, len(top.Nodes))
}
