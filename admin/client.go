package admin

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/zonecache/zonecache/replication"
)

var (
	// ErrBadAddr is wrapped by the error of a call on a Client whose Addr
	// is neither host:port nor a URL with a host.
	ErrBadAddr = errors.New("admin: bad address")
	// ErrStatus is wrapped by the error of a call the node answered with a
	// status other than 200 OK; the error's text holds the node's answer.
	ErrStatus = errors.New("admin: error status")
	// ErrUnavailable is also wrapped when that status is 503: the node is
	// not ready, is shutting down, or (for /topology) has left the fleet.
	ErrUnavailable = errors.New("admin: unavailable")
	// ErrNoEndpoint is also wrapped when that status is 404: the node does
	// not serve the endpoint (a standalone node has no /topology or /state).
	ErrNoEndpoint = errors.New("admin: no such endpoint")
	// ErrUnauthorized is also wrapped when that status is 401 or 403: the
	// node wants a bearer token (Client.Token), or another one.
	ErrUnauthorized = errors.New("admin: unauthorized")
	// ErrTokenFile is wrapped by ReadTokenFile's error for a token file
	// that is empty, too short, or readable by group or others.
	ErrTokenFile = errors.New("admin: bad token file")
)

// minTokenLen is the shortest admin token ReadTokenFile accepts, in bytes.
const minTokenLen = 16

// maxAnswer bounds the text answers (state, health) read from a node.
const maxAnswer = 4096

// Client talks to one node's admin HTTP endpoint. The zero value with Addr
// set is ready to use; every call is bounded by its context only.
type Client struct {
	// Addr is the node's admin address: host:port, or a URL whose path
	// prefixes every endpoint, except that Topology takes a URL with a
	// path as the topology document's own (a discovery seed may name a
	// static topology file).
	Addr string
	// HTTPClient makes the requests. Default http.DefaultClient.
	HTTPClient *http.Client
	// Token, when set, is sent on every request as "Authorization: Bearer
	// Token": a node started with --admin-token-file wants it on the
	// endpoints that change it (POST /state). See ReadTokenFile.
	Token string
}

// New returns a Client of the node whose admin address is addr.
func New(addr string) *Client { return &Client{Addr: addr} }

// Topology returns the fleet's topology as the node sees it
// (GET /topology).
func (c *Client) Topology(ctx context.Context) (replication.Topology, error) {
	return c.topology(ctx, nil)
}

// WatchTopology waits until the node's topology epoch passes after, or wait
// passes (the node caps it at membership.MaxWatchWait), and returns the
// node's topology then (GET /topology?after=EPOCH&wait=D). The caller
// compares epochs to tell whether anything changed.
func (c *Client) WatchTopology(ctx context.Context, after uint64, wait time.Duration) (replication.Topology, error) {
	q := url.Values{}
	q.Set("after", strconv.FormatUint(after, 10))
	q.Set("wait", wait.String())
	return c.topology(ctx, q)
}

func (c *Client) topology(ctx context.Context, q url.Values) (replication.Topology, error) {
	u, err := c.topologyURL()
	if err != nil {
		return replication.Topology{}, err
	}
	if q != nil {
		u.RawQuery = q.Encode()
	}
	resp, err := c.do(ctx, http.MethodGet, u)
	if err != nil {
		return replication.Topology{}, err
	}
	defer resp.Body.Close()
	t, err := replication.DecodeTopology(resp.Body)
	if err != nil {
		return replication.Topology{}, fmt.Errorf("admin: %s: %w", c.Addr, err)
	}
	return t, nil
}

// State returns the state the node advertises to its fleet (GET /state).
func (c *Client) State(ctx context.Context) (replication.NodeState, error) {
	s, err := c.text(ctx, http.MethodGet, "/state", nil)
	return replication.NodeState(s), err
}

// SetState moves the node to state to and returns the state it then
// advertises (POST /state?to=STATE): to serving promotes a warming node,
// to draining takes a node's reads away before it leaves.
func (c *Client) SetState(ctx context.Context, to replication.NodeState) (replication.NodeState, error) {
	s, err := c.text(ctx, http.MethodPost, "/state", url.Values{"to": {string(to)}})
	return replication.NodeState(s), err
}

// NodeID returns the id of the node this admin address belongs to in its
// fleet (GET /node).
func (c *Client) NodeID(ctx context.Context) (string, error) {
	return c.text(ctx, http.MethodGet, "/node", nil)
}

// SetWeight sets the weight the node advertises and the next weight a
// reshard moves it to (0: none) (POST /weight?weight=W&next=N).
func (c *Client) SetWeight(ctx context.Context, weight, next int) error {
	_, err := c.text(ctx, http.MethodPost, "/weight", url.Values{"weight": {strconv.Itoa(weight)}, "next": {strconv.Itoa(next)}})
	return err
}

// Healthy returns nil while the node's process answers (GET /healthz).
func (c *Client) Healthy(ctx context.Context) error {
	_, err := c.text(ctx, http.MethodGet, "/healthz", nil)
	return err
}

// Ready returns nil while the node serves reads (GET /readyz): it accepts
// cache connections and, in a fleet, is serving or draining and in contact
// with most of it. Before, while joining, warming, cut off or held dead,
// and once it shuts down, the error wraps ErrUnavailable and carries the
// node's reason.
func (c *Client) Ready(ctx context.Context) error {
	_, err := c.text(ctx, http.MethodGet, "/readyz", nil)
	return err
}

// text calls the endpoint at path and returns its answer, trimmed.
func (c *Client) text(ctx context.Context, method, path string, q url.Values) (string, error) {
	u, err := c.base()
	if err != nil {
		return "", err
	}
	u.Path = strings.TrimSuffix(u.Path, "/") + path
	u.RawQuery = q.Encode()
	resp, err := c.do(ctx, method, u)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxAnswer))
	if err != nil {
		return "", fmt.Errorf("admin: %s %s: %w", method, u, err)
	}
	return strings.TrimSpace(string(body)), nil
}

// do sends the request and returns the response of a 200 OK; any other
// status is an error wrapping ErrStatus, holding the node's answer.
func (c *Client) do(ctx context.Context, method string, u *url.URL) (*http.Response, error) {
	return c.doBody(ctx, method, u, nil)
}

// doBody is do with a request body.
func (c *Client) doBody(ctx context.Context, method string, u *url.URL, reqBody io.Reader) (*http.Response, error) {
	req, err := http.NewRequestWithContext(ctx, method, u.String(), reqBody)
	if err != nil {
		return nil, fmt.Errorf("admin: %s %s: %w", method, u, err)
	}
	if c.Token != "" {
		req.Header.Set("Authorization", "Bearer "+c.Token)
	}
	if method != http.MethodGet {
		// The node refuses other types on changes: a web page cannot
		// send this type cross-origin without the browser asking first.
		req.Header.Set("Content-Type", "application/json")
	}
	hc := c.HTTPClient
	if hc == nil {
		hc = http.DefaultClient
	}
	resp, err := hc.Do(req)
	if err != nil {
		return nil, fmt.Errorf("admin: %s: %w", c.Addr, err)
	}
	if resp.StatusCode == http.StatusOK {
		return resp, nil
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, maxAnswer))
	return nil, &statusError{method: method, url: u.String(), code: resp.StatusCode, status: resp.Status, body: strings.TrimSpace(string(body))}
}

// statusError is a node's answer other than 200 OK.
type statusError struct {
	method, url, status, body string
	code                      int
}

func (e *statusError) Error() string {
	return fmt.Sprintf("admin: %s %s: %s: %s", e.method, e.url, e.status, e.body)
}

// Is matches ErrStatus, and ErrUnavailable, ErrNoEndpoint or
// ErrUnauthorized by the code.
func (e *statusError) Is(target error) bool {
	switch target {
	case ErrStatus:
		return true
	case ErrUnavailable:
		return e.code == http.StatusServiceUnavailable
	case ErrNoEndpoint:
		return e.code == http.StatusNotFound
	case ErrUnauthorized:
		return e.code == http.StatusUnauthorized || e.code == http.StatusForbidden
	}
	return false
}

// base parses Addr: "host:port" or "http(s)://host:port[/prefix]".
func (c *Client) base() (*url.URL, error) {
	raw := c.Addr
	if !strings.Contains(raw, "://") {
		raw = "http://" + raw
	}
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" {
		return nil, fmt.Errorf("%w: %q", ErrBadAddr, c.Addr)
	}
	return u, nil
}

// topologyURL is Addr's /topology, or Addr itself when it has a path.
func (c *Client) topologyURL() (*url.URL, error) {
	u, err := c.base()
	if err != nil {
		return nil, err
	}
	if u.Path == "" || u.Path == "/" {
		u.Path = "/topology"
	}
	return u, nil
}

// ReadTokenFile reads an admin bearer token from path: the file's text
// without surrounding white space, at least 16 printable ASCII bytes
// without spaces. A file that group or others may read or write is
// refused, as ssh refuses such keys.
func ReadTokenFile(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", fmt.Errorf("admin: token file: %w", err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return "", fmt.Errorf("admin: token file: %w", err)
	}
	if perm := st.Mode().Perm(); perm&0o077 != 0 {
		return "", fmt.Errorf("%w: %s has mode %#o, open to group or others: chmod 600 it", ErrTokenFile, path, perm)
	}
	b, err := io.ReadAll(io.LimitReader(f, maxAnswer))
	if err != nil {
		return "", fmt.Errorf("admin: token file %s: %w", path, err)
	}
	token := strings.TrimSpace(string(b))
	if len(token) < minTokenLen || strings.IndexFunc(token, notTokenChar) >= 0 {
		return "", fmt.Errorf("%w: %s: want one word of at least %d printable ASCII bytes (openssl rand -hex 32)", ErrTokenFile, path, minTokenLen)
	}
	return token, nil
}

// notTokenChar reports a rune that cannot be in a token: one that is not
// printable ASCII, or a space.
func notTokenChar(r rune) bool { return r <= ' ' || r > '~' }
