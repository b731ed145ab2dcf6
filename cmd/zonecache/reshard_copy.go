package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/zonecache/zonecache/reshard"
)

func (f *reshardFlags) copyConfig() reshard.CopyConfig {
	return f.watch.onCopy(reshard.CopyConfig{Rate: f.rate, BytesRate: float64(f.bytesRate), Concurrency: f.concurrency, Checkpoint: f.checkpoint, Node: f.node})
}

// copyJSON is the --json form of a copy's result.
type copyJSON struct {
	Copy       reshard.CopyStats `json:"copy"`
	Seconds    float64           `json:"seconds"`
	Done       bool              `json:"done"`
	Checkpoint string            `json:"checkpoint"`
	Left       []leftJSON        `json:"left"`
	Error      string            `json:"error,omitempty"`
}

// report prints what a copy did and says how to go on; it returns an
// error when the copy is not complete.
func (f *reshardFlags) report(w io.Writer, plan *reshard.Plan, st reshard.CopyStats, took time.Duration, err error) error {
	return reportCopy(w, &f.watch, f.json, f.checkpoint, plan, st, took, err)
}

// reportCopy prints what a copy with a checkpoint (reshard, warm) did,
// as JSON with asJSON, and what is left; it returns an error saying how
// to go on when the copy is not complete.
func reportCopy(w io.Writer, wt *watch, asJSON bool, checkpoint string, plan *reshard.Plan, st reshard.CopyStats, took time.Duration, err error) error {
	switch {
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		err = fmt.Errorf("interrupted (%w): rerun with --resume --checkpoint %s to continue", err, checkpoint)
	case errors.Is(err, reshard.ErrStaleLeft):
		err = fmt.Errorf("%w: rerun with --resume --checkpoint %s once the node answers", err, checkpoint)
	case err == nil && st.Failed > 0:
		err = fmt.Errorf("%d items failed: rerun with --resume --checkpoint %s to try them again", st.Failed, checkpoint)
	}
	if asJSON {
		out := copyJSON{Copy: st, Seconds: took.Seconds(), Done: err == nil, Checkpoint: checkpoint, Left: wt.leftRows()}
		if err != nil {
			out.Error = err.Error()
		}
		if jerr := json.NewEncoder(w).Encode(out); jerr != nil {
			return jerr
		}
		return err
	}
	fmt.Fprintf(w, "copy of %d keys in %v: %v\n", plan.Keys(), took.Round(time.Millisecond), st)
	wt.writeLeft(w)
	return err
}
