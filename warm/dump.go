package warm

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/zonecache/zonecache/nodeclient"
)

// Item is one item of a node's metadump: its key and what the node says
// about it, without the value.
type Item struct {
	// Key is the item's key, unescaped.
	Key string `json:"key"`
	// Exp is the item's expiry as a Unix time; -1 means never.
	Exp int64 `json:"exp"`
	// LastAccess is the Unix time of the item's last access (metadump's
	// la): the larger, the hotter.
	LastAccess int64 `json:"la"`
	// Size is the bytes the item takes on the node, header and key
	// included (metadump's size); 0 when the dump does not say.
	Size int64 `json:"size"`
}

// Dump lists every item of the node at addr with `lru_crawler metadump all`
// and calls fn with each, in the node's order. Lines it cannot parse are
// counted in malformed and skipped. The error is ctx's when ctx ended,
// otherwise a failure to connect, a refusal (BUSY, ERROR) or a dump that
// ended without END; the items before it have been passed to fn.
func Dump(ctx context.Context, addr string, dialTimeout time.Duration, fn func(Item)) (malformed int64, err error) {
	err = readDump(ctx, addr, dialTimeout, func(line string) {
		it, perr := parseItem(line)
		if perr != nil {
			malformed++
			return
		}
		fn(it)
	})
	return malformed, err
}

// readDump streams the metadump of addr and calls fn with each item line.
func readDump(ctx context.Context, addr string, dialTimeout time.Duration, fn func(line string)) error {
	if dialTimeout <= 0 {
		dialTimeout = DefaultDialTimeout
	}
	d := net.Dialer{Timeout: dialTimeout}
	conn, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return err
	}
	defer conn.Close()
	// Ending ctx (its deadline included) unblocks a read or write in
	// progress; ctx.Err() is set by then, so the error reported is ctx's.
	stop := context.AfterFunc(ctx, func() { _ = conn.SetDeadline(time.Unix(1, 0)) })
	defer stop()
	if _, err := conn.Write([]byte("lru_crawler metadump all\r\n")); err != nil {
		return ctxErr(ctx, err)
	}
	r := bufio.NewReaderSize(conn, 64<<10)
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			return ctxErr(ctx, fmt.Errorf("metadump ended without END: %w", err))
		}
		line = strings.TrimRight(line, "\r\n")
		switch {
		case line == "END":
			return nil
		case strings.HasPrefix(line, "key="):
			fn(line)
		case line == "":
		default: // ERROR, CLIENT_ERROR, BUSY, BADCLASS ...
			return fmt.Errorf("metadump refused: %q", line)
		}
	}
}

// parseItem parses `key=<uri-escaped> exp=<unix|-1> la=<unix> ... size=<n>`;
// key and exp are required.
func parseItem(line string) (Item, error) {
	var it Item
	var haveKey, haveExp bool
	for _, f := range strings.Fields(line) {
		name, val, ok := strings.Cut(f, "=")
		if !ok {
			continue
		}
		var err error
		switch name {
		case "key":
			it.Key, err = url.PathUnescape(val)
			if it.Key == "" {
				err = errors.New("empty")
			}
			haveKey = true
		case "exp":
			it.Exp, err = strconv.ParseInt(val, 10, 64)
			haveExp = true
		case "la":
			it.LastAccess, err = strconv.ParseInt(val, 10, 64)
		case "size":
			it.Size, err = strconv.ParseInt(val, 10, 64)
		}
		if err != nil {
			return Item{}, fmt.Errorf("bad %s %q", name, val)
		}
	}
	if !haveKey || !haveExp {
		return Item{}, fmt.Errorf("bad metadump line %q", line)
	}
	return it, nil
}

// CopyResult says what Copy did with one item.
type CopyResult int

// The results of Copy.
const (
	// Copied: the item was added to the destination.
	Copied CopyResult = iota
	// Gone: the item had expired or left the source, or had no time left.
	Gone
	// Present: the destination already held the key (add refused), a value
	// that live traffic wrote and that is newer than the copy.
	Present
	// Failed: reading or writing failed; the error says why.
	Failed
)

// Copy reads it.Key from src and adds it to dst with its remaining TTL
// (it.Exp when the source does not say). Add, never set: a value already on
// dst is newer than the copy and is kept.
func Copy(ctx context.Context, src, dst *nodeclient.Pool, it Item) (CopyResult, error) {
	res, _, err := copyItem(ctx, src, dst, it)
	return res, err
}

// copyItem is Copy; it also returns the size of the value it read.
func copyItem(ctx context.Context, src, dst *nodeclient.Pool, it Item) (CopyResult, int, error) {
	got, err := src.Get(ctx, it.Key)
	switch {
	case errors.Is(err, nodeclient.ErrCacheMiss):
		return Gone, 0, nil // expired or deleted since the dump
	case err != nil:
		return Failed, 0, err
	}
	ttl, ok := writeTTL(got.TTL, it.Exp, time.Now())
	if !ok {
		return Gone, 0, nil
	}
	err = dst.Add(ctx, nodeclient.Item{Key: it.Key, Value: got.Value, Flags: got.Flags, TTL: ttl})
	switch {
	case err == nil:
		return Copied, len(got.Value), nil
	case errors.Is(err, nodeclient.ErrNotStored):
		return Present, len(got.Value), nil
	default:
		return Failed, len(got.Value), err
	}
}
