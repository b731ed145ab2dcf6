// Package tlsflag defines the command-line flags with which the zonecache
// commands (the CLI, zonebench) reach a fleet that serves TLS, and loads
// them into a tls.Config.
package tlsflag

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"flag"
	"fmt"
	"os"
)

// Client are the flags of a TLS client. Any of them set turns TLS on.
type Client struct {
	CA, Cert, Key, ServerName string
}

// Register defines --tls-ca, --tls-cert, --tls-key and --tls-server-name
// on fs.
func (c *Client) Register(fs *flag.FlagSet) {
	fs.StringVar(&c.CA, "tls-ca", "", "CA certificates `file` (PEM) to verify the nodes' certificates with; any --tls-* flag makes the cache connections TLS (default roots: the system's)")
	fs.StringVar(&c.Cert, "tls-cert", "", "client certificate `file` (PEM), for nodes that require one (--tls-client-ca)")
	fs.StringVar(&c.Key, "tls-key", "", "client private key `file` (PEM), with --tls-cert")
	fs.StringVar(&c.ServerName, "tls-server-name", "", "`name` the nodes' certificates must carry (default: the host of each node's address)")
}

// Config returns the client TLS config the flags describe, or nil when no
// flag is set (plain TCP).
func (c Client) Config() (*tls.Config, error) {
	if c == (Client{}) {
		return nil, nil
	}
	if (c.Cert == "") != (c.Key == "") {
		return nil, errors.New("--tls-cert and --tls-key go together")
	}
	cfg := &tls.Config{ServerName: c.ServerName, MinVersion: tls.VersionTLS12}
	if c.CA != "" {
		pool, err := LoadPool(c.CA)
		if err != nil {
			return nil, fmt.Errorf("--tls-ca: %w", err)
		}
		cfg.RootCAs = pool
	}
	if c.Cert != "" {
		pair, err := tls.LoadX509KeyPair(c.Cert, c.Key)
		if err != nil {
			return nil, fmt.Errorf("load TLS key pair: %w", err)
		}
		cfg.Certificates = []tls.Certificate{pair}
	}
	return cfg, nil
}

// LoadPool reads the PEM certificates in path.
func LoadPool(path string) (*x509.CertPool, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(b) {
		return nil, fmt.Errorf("%s: no PEM certificate", path)
	}
	return pool, nil
}
