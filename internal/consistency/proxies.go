package consistency

import (
	"slices"
	"time"

	"github.com/zonecache/zonecache/internal/faultproxy"
	"github.com/zonecache/zonecache/replication"
)

// zoneProxies are fault proxies in front of every node of one zone: the
// zone cut without network namespaces.
type zoneProxies struct {
	byID map[string]*faultproxy.Proxy
}

func newZoneProxies(e *env, zone string) (*zoneProxies, error) {
	z := &zoneProxies{byID: map[string]*faultproxy.Proxy{}}
	for _, n := range e.fleet.Zone(zone) {
		p, err := faultproxy.New(n.Addr)
		if err != nil {
			z.close()
			return nil, err
		}
		z.byID[n.ID] = p
	}
	return z, nil
}

// topology is t with the zone's nodes reached through the proxies.
func (z *zoneProxies) topology(t replication.Topology) replication.Topology {
	t.Nodes = slices.Clone(t.Nodes)
	for i, n := range t.Nodes {
		if p, ok := z.byID[n.ID]; ok {
			t.Nodes[i].Addr = p.Addr()
		}
	}
	return t
}

func (z *zoneProxies) setDelay(d time.Duration) {
	for _, p := range z.byID {
		p.SetDelay(d)
	}
}

func (z *zoneProxies) close() {
	for _, p := range z.byID {
		_ = p.Close()
	}
}
