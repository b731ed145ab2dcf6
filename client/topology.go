package client

import (
	"fmt"
	"os"

	"github.com/zonecache/zonecache/replication"
)

// TopologyFromFile reads a topology from a JSON file (the format of
// replication.DecodeTopology, as the CLI and the servers' /topology
// endpoint carry it):
//
//	{"epoch": 3, "nodes": [
//	  {"id": "a0", "zone": "a", "addr": "10.0.1.10:11211"},
//	  {"id": "a1", "zone": "a", "addr": "10.0.1.11:11211", "state": "warming"},
//	  {"id": "b0", "zone": "b", "addr": "10.0.2.10:11211", "weight": 2}]}
func TopologyFromFile(path string) (replication.Topology, error) {
	f, err := os.Open(path)
	if err != nil {
		return replication.Topology{}, fmt.Errorf("zonecache: topology: %w", err)
	}
	defer f.Close()
	t, err := replication.DecodeTopology(f)
	if err != nil {
		return replication.Topology{}, fmt.Errorf("zonecache: topology %s: %w", path, err)
	}
	return t, nil
}
