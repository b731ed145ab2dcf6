package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/zonecache/zonecache/admin"
	"github.com/zonecache/zonecache/membership"
)

const gossipKeySynopsis = `gossip-key (list | install | use | remove) --admin HOST:PORT[,...] [--key-file FILE] [--admin-token-file FILE]

Lists or changes the gossip keyring of each node named by --admin, in turn. Rotating a fleet's key
without downtime: install the new key on every node, then use it on every node, then remove the
old one from every node; then put the new key in each node's --gossip-key-file for its next start.
Keys are shown by id (the first 8 bytes of their SHA-256), never in clear.`

// gossipKeyCmd runs zonecache gossip-key.
func gossipKeyCmd(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("gossip-key", gossipKeySynopsis, stderr)
	admins := fs.String("admin", "", "comma-separated admin HTTP addresses (host:port or URL) of the nodes to list or change (required)")
	keyFile := fs.String("key-file", "", "`file` (mode 0600) holding the key to install, use or remove: 16, 24 or 32 bytes, raw or base64, as --gossip-key-file")
	timeout := fs.Duration("timeout", 10*time.Second, "bound on each node's request")
	tokenFile := tokenFileFlag(fs)
	if len(args) == 0 || strings.HasPrefix(args[0], "-") {
		if err := parse(fs, args); err != nil {
			return err // -h included
		}
		return usageError{"want list, install, use or remove before the flags"}
	}
	op, args := args[0], args[1:]
	if err := parse(fs, args); err != nil {
		return err
	}
	addrs := splitList(*admins)
	if len(addrs) == 0 {
		return usageError{"--admin is required"}
	}
	call, err := keyringCall(op, *keyFile)
	if err != nil {
		return err
	}
	token, err := readToken(*tokenFile)
	if err != nil {
		return err
	}
	var errs []error
	for _, addr := range addrs {
		rctx, cancel := context.WithTimeout(ctx, *timeout)
		c := admin.New(addr)
		c.Token = token
		kr, err := call(rctx, c)
		cancel()
		if err != nil {
			errs = append(errs, err)
			fmt.Fprintf(stdout, "%s: failed: %v\n", addr, err)
			continue
		}
		fmt.Fprintf(stdout, "%s: primary %s keys %s\n", addr, kr.Primary, strings.Join(kr.Keys, ","))
	}
	return errors.Join(errs...)
}

// keyringCall returns the admin call of op, reading the key of install,
// use and remove from keyFile.
func keyringCall(op, keyFile string) (func(context.Context, *admin.Client) (admin.Keyring, error), error) {
	if op == "list" {
		if keyFile != "" {
			return nil, usageError{"list takes no --key-file"}
		}
		return func(ctx context.Context, c *admin.Client) (admin.Keyring, error) { return c.GossipKeys(ctx) }, nil
	}
	calls := map[string]func(*admin.Client, context.Context, []byte) (admin.Keyring, error){
		"install": (*admin.Client).InstallGossipKey, "use": (*admin.Client).UseGossipKey, "remove": (*admin.Client).RemoveGossipKey,
	}
	call, ok := calls[op]
	if !ok {
		return nil, usageError{fmt.Sprintf("unknown operation %q: want list, install, use or remove", op)}
	}
	if keyFile == "" {
		return nil, usageError{op + " needs --key-file"}
	}
	key, err := membership.ReadKeyFile(keyFile)
	if err != nil {
		return nil, fmt.Errorf("--key-file: %w", err)
	}
	return func(ctx context.Context, c *admin.Client) (admin.Keyring, error) { return call(c, ctx, key) }, nil
}
