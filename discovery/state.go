package discovery

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"

	"github.com/zonecache/zonecache/replication"
)

// SetState moves the fleet node whose admin address is admin (host:port or
// URL) to state to (POST /state?to=...), as `zonecache promote` does, and
// returns the node's answer. ctx bounds the request.
func SetState(ctx context.Context, admin string, to replication.NodeState) (string, error) {
	base := admin
	if !strings.Contains(base, "://") {
		base = "http://" + base
	}
	base = strings.TrimSuffix(base, "/")
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, base+"/state?to="+string(to), nil)
	if err != nil {
		return "", fmt.Errorf("discovery: set state of %s: %w", admin, err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return "", fmt.Errorf("discovery: set state of %s: %w", admin, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	msg := strings.TrimSpace(string(body))
	if resp.StatusCode != http.StatusOK {
		return msg, fmt.Errorf("discovery: set state of %s to %s: %s: %s", admin, to, resp.Status, msg)
	}
	return msg, nil
}
