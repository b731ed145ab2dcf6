package membership

import (
	"encoding/json"
	"errors"
	"fmt"
	"net"

	"github.com/hashicorp/memberlist"
	"github.com/zonecache/zonecache/replication"
)

// ErrMetaTooLarge is returned when a node's advertised metadata would exceed
// memberlist's 512-byte limit (memberlist panics beyond it).
var ErrMetaTooLarge = errors.New("membership: node metadata exceeds 512 bytes")

// nodeMeta is what a member advertises about itself; short JSON names keep it
// well under memberlist's limit.
type nodeMeta struct {
	Zone   string                `json:"z"`
	Addr   string                `json:"a"`
	Weight int                   `json:"w,omitempty"`
	State  replication.NodeState `json:"s"`
	// NextWeight is the weight a reshard moves the node to (0: none).
	NextWeight int `json:"nw,omitempty"`
}

func (m nodeMeta) encode() ([]byte, error) {
	b, err := json.Marshal(m)
	if err != nil {
		return nil, err
	}
	if len(b) > memberlist.MetaMaxSize {
		return nil, fmt.Errorf("%w: %d bytes", ErrMetaTooLarge, len(b))
	}
	return b, nil
}

func decodeMeta(b []byte) (nodeMeta, error) {
	var m nodeMeta
	if err := json.Unmarshal(b, &m); err != nil {
		return nodeMeta{}, fmt.Errorf("membership: decode node metadata: %w", err)
	}
	if m.Zone == "" || m.Addr == "" || m.Weight < 0 || m.NextWeight < 0 || !m.State.Valid() {
		return nodeMeta{}, fmt.Errorf("membership: incomplete node metadata %q", b)
	}
	if _, _, err := net.SplitHostPort(m.Addr); err != nil {
		return nodeMeta{}, fmt.Errorf("membership: node metadata %q: cache address: %w", b, err)
	}
	return m, nil
}
