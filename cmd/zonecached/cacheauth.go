package main

import (
	"flag"
	"fmt"
	"time"

	"github.com/zonecache/zonecache/internal/authfile"
	"github.com/zonecache/zonecache/server"
)

// cachePortOptions are the cache port's protections: authentication,
// flush_all, and the timeouts that bound hostile clients.
type cachePortOptions struct {
	authFile     string
	noFlushAll   bool
	idleTimeout  time.Duration
	valueTimeout time.Duration
}

func (o *cachePortOptions) register(fs *flag.FlagSet) {
	const authUsage = "memcached's text-protocol authfile (-Y): `file` of username:password lines; every connection must first send \"set <any> 0 0 <bytes>\" with \"<username> <password>\" as data. Refused if readable by group or others"
	fs.StringVar(&o.authFile, "auth-file", "", authUsage)
	fs.StringVar(&o.authFile, "Y", "", "the same as --auth-file `file`")
	fs.BoolVar(&o.noFlushAll, "disable-flush-all", false, "answer flush_all \"CLIENT_ERROR flush_all not allowed\", as memcached -F")
	fs.BoolVar(&o.noFlushAll, "F", false, "the same as --disable-flush-all")
	fs.DurationVar(&o.idleTimeout, "idle-timeout", 0, "close client connections idle this long (`duration`, checked every second), as memcached's -o idle_timeout; 0 keeps them open")
	fs.DurationVar(&o.valueTimeout, "value-timeout", server.DefaultValueTimeout, "close a connection whose value larger than 16 KiB does not arrive, or whose reply holding one is not read, within this `duration`, releasing its share of the large-value budget; negative disables it")
}

// apply sets the cache port's protections in cfg, reading the authfile.
func (o *cachePortOptions) apply(cfg *server.Config) error {
	if o.idleTimeout < 0 {
		return fmt.Errorf("--idle-timeout %v: must not be negative", o.idleTimeout)
	}
	if o.valueTimeout == 0 {
		return fmt.Errorf("--value-timeout 0: give a duration, or a negative one to disable it")
	}
	cfg.DisableFlushAll = o.noFlushAll
	cfg.IdleTimeout = o.idleTimeout
	cfg.ValueTimeout = o.valueTimeout
	if o.authFile == "" {
		return nil
	}
	entries, err := authfile.Load(o.authFile)
	if err != nil {
		return fmt.Errorf("--auth-file: %w", err)
	}
	for _, e := range entries {
		cfg.Credentials = append(cfg.Credentials, server.Credential{Username: e.Username, Password: e.Password})
	}
	return nil
}
