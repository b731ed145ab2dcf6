package warm

import (
	"bufio"
	"bytes"
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
// ended without END; the items before it have been passed to fn. It
// connects as dial.Dial does (TLS when dial.TLS is set), within
// dial.DialTimeout (default DefaultDialTimeout), and authenticates with
// dial.Auth to a node that requires it.
func Dump(ctx context.Context, addr string, dial nodeclient.Config, fn func(Item)) (malformed int64, err error) {
	err = readDump(ctx, addr, dial, func(line string) {
		it, perr := parseItem(line)
		if perr != nil {
			malformed++
			return
		}
		fn(it)
	})
	return malformed, err
}

// dialNode connects to addr as dial.Dial does, within dial.DialTimeout
// (default DefaultDialTimeout).
func dialNode(ctx context.Context, addr string, dial nodeclient.Config) (net.Conn, error) {
	if dial.DialTimeout <= 0 {
		dial.DialTimeout = DefaultDialTimeout
	}
	dctx, cancel := context.WithTimeout(ctx, dial.DialTimeout)
	defer cancel()
	return dial.Dial(dctx, addr)
}

// readDump streams the metadump of addr and calls fn with each item line.
func readDump(ctx context.Context, addr string, dial nodeclient.Config, fn func(line string)) error {
	conn, err := dialNode(ctx, addr, dial)
	if err != nil {
		return err
	}
	defer conn.Close()
	// Ending ctx (its deadline included) unblocks a read or write in
	// progress; ctx.Err() is set by then, so the error reported is ctx's.
	stop := context.AfterFunc(ctx, func() { _ = conn.SetDeadline(time.Unix(1, 0)) })
	defer stop()
	r := bufio.NewReaderSize(conn, 64<<10)
	if err := nodeclient.Authenticate(conn, r, dial.Auth); err != nil {
		return ctxErr(ctx, err)
	}
	if _, err := conn.Write([]byte("lru_crawler metadump all\r\n")); err != nil {
		return ctxErr(ctx, err)
	}
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

// CopyChecked is Copy, then a second read of the source: when the key has
// left it or holds another value (a delete or a write made between the
// read and the add, which a live client also sent to dst, maybe before the
// add), the copy is deleted from dst, so that it never outlives a delete;
// the result is then Gone. For copies into a node that takes live writes.
func CopyChecked(ctx context.Context, src, dst *nodeclient.Pool, it Item) (CopyResult, error) {
	return copyChecked(ctx, src, dst, it, nil)
}

// copyChecked is CopyChecked, calling between (when set) after the add:
// where a test makes a client's delete.
func copyChecked(ctx context.Context, src, dst *nodeclient.Pool, it Item, between func()) (CopyResult, error) {
	res, copied, err := copyItem(ctx, src, dst, it)
	if res != Copied {
		return res, err
	}
	if between != nil {
		between()
	}
	now, err := src.Get(ctx, it.Key)
	switch {
	case err == nil && bytes.Equal(now.Value, copied.Value) && now.Flags == copied.Flags:
		return Copied, nil
	case err != nil && !errors.Is(err, nodeclient.ErrCacheMiss):
		// Cannot tell: undo the copy, a miss rather than maybe a stale value.
	}
	if err := dst.Delete(ctx, it.Key); err != nil && !errors.Is(err, nodeclient.ErrNotFound) {
		return Failed, fmt.Errorf("warm: undo the copy of %s: %w", it.Key, err)
	}
	return Gone, nil
}

// copyItem is Copy; it also returns the item it read (zero when Gone).
func copyItem(ctx context.Context, src, dst *nodeclient.Pool, it Item) (CopyResult, nodeclient.Item, error) {
	got, err := src.Get(ctx, it.Key)
	switch {
	case errors.Is(err, nodeclient.ErrCacheMiss):
		return Gone, got, nil // expired or deleted since the dump
	case err != nil:
		return Failed, got, err
	}
	ttl, ok := writeTTL(got.TTL, it.Exp, time.Now())
	if !ok {
		return Gone, nodeclient.Item{}, nil
	}
	err = dst.Add(ctx, nodeclient.Item{Key: it.Key, Value: got.Value, Flags: got.Flags, TTL: ttl})
	switch {
	case err == nil:
		return Copied, got, nil
	case errors.Is(err, nodeclient.ErrNotStored):
		return Present, got, nil
	default:
		return Failed, got, err
	}
}
