package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/zonecache/zonecache/internal/tlsflag"
	"github.com/zonecache/zonecache/replication"
	"github.com/zonecache/zonecache/warm"
)

// purgeCmd deletes from every node (or the nodes named) the items it does
// not own under the topology: for fleets without gossip, after a change
// of ownership, so that ownership moving back serves no old value.
func purgeCmd(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("purge", "purge (--seeds HOST:PORT[,...] | --topology FILE) [--nodes ID,...]", stderr)
	seeds := fs.String("seeds", "", "comma-separated admin HTTP addresses (host:port or URL) to fetch the topology from")
	file := fs.String("topology", "", "topology `file` (JSON, as /topology serves it) the clients now use; instead of --seeds, for fleets without gossip such as stock memcached")
	nodes := fs.String("nodes", "", "comma-separated ids of the nodes to purge (default: every node)")
	conc := fs.Int("concurrency", warm.DefaultConcurrency, "deletes in flight per node")
	timeout := fs.Duration("timeout", 0, "bound on the whole purge; 0 means none")
	var tf tlsflag.Client
	tf.Register(fs)
	authFile := fs.String("auth-file", "", authFileUsage)
	if err := parse(fs, args); err != nil {
		return err
	}
	node, err := nodeDial(tf, *authFile)
	if err != nil {
		return err
	}
	if (*seeds == "") == (*file == "") {
		return usageError{"give one of --seeds and --topology"}
	}
	if *conc <= 0 {
		return usageError{"--concurrency must be > 0"}
	}
	top, err := purgeTopology(ctx, *seeds, *file)
	if err != nil {
		return err
	}
	if *timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, *timeout)
		defer cancel()
	}
	start := time.Now()
	st, err := warm.Purge(ctx, warm.PurgeConfig{Topology: top, Nodes: splitList(*nodes), Concurrency: *conc, Node: node})
	fmt.Fprintf(stdout, "purged in %v: %v\n", time.Since(start).Round(time.Millisecond), st)
	if err != nil {
		return err
	}
	if st.Errors > 0 {
		return fmt.Errorf("%d items failed", st.Errors)
	}
	return nil
}

func purgeTopology(ctx context.Context, seeds, file string) (replication.Topology, error) {
	if seeds != "" {
		return fetch(ctx, seeds, 10*time.Second)
	}
	f, err := os.Open(file)
	if err != nil {
		return replication.Topology{}, err
	}
	defer f.Close()
	return replication.DecodeTopology(f)
}
