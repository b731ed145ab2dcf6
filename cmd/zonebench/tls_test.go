package main

import (
	"bytes"
	"context"
	"encoding/json"
	"testing"

	"github.com/zonecache/zonecache/internal/testcert"
	"github.com/zonecache/zonecache/internal/testproc"
)

// TestRunOverMutualTLS measures a zonecached that requires client
// certificates, through nodeclient and through gomemcache.
func TestRunOverMutualTLS(t *testing.T) {
	certs := testcert.New(t)
	zc := testproc.StartZonecached(t, "--tls-cert", certs.ServerCert, "--tls-key", certs.ServerKey, "--tls-client-ca", certs.CAFile)
	for _, kind := range []string{"node", "memcached"} {
		var stdout, stderr bytes.Buffer
		code := run(context.Background(), []string{"--target", kind + "=" + zc.Addr, "--keys", "100", "--ops", "500",
			"--concurrency", "2", "--timeout", "10s", "--json", "-",
			"--tls-ca", certs.CAFile, "--tls-cert", certs.ClientCert, "--tls-key", certs.ClientKey}, &stdout, &stderr, false)
		if code != 0 {
			t.Fatalf("%s: exit %d: %s", kind, code, stderr.String())
		}
		var rep struct {
			Targets []struct {
				Ops, Errors uint64
			} `json:"targets"`
		}
		if err := json.Unmarshal(stdout.Bytes(), &rep); err != nil || len(rep.Targets) != 1 {
			t.Fatalf("%s: json %v\n%s", kind, err, stdout.String())
		}
		if tr := rep.Targets[0]; tr.Ops != 500 || tr.Errors != 0 {
			t.Fatalf("%s over TLS: %+v", kind, tr)
		}
	}
}
