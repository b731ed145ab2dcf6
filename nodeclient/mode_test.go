package nodeclient

import (
	"testing"

	"github.com/zonecache/zonecache/internal/protocol"
)

// The public store modes are the codec's M values: Store sends them as they are.
func TestStoreModesAreProtocolModes(t *testing.T) {
	for _, m := range []struct {
		public StoreMode
		wire   byte
	}{
		{ModeSet, protocol.ModeSet}, {ModeAdd, protocol.ModeAdd}, {ModeReplace, protocol.ModeReplace},
		{ModeAppend, protocol.ModeAppend}, {ModePrepend, protocol.ModePrepend},
	} {
		if byte(m.public) != m.wire {
			t.Errorf("StoreMode %q, protocol mode %q", m.public, m.wire)
		}
	}
}
