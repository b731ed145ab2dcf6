package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
)

// ErrWeightChanged is wrapped by the start's error of a fleet node whose
// --weight differs from the weight its --weight-file keeps: that weight
// was set at runtime (POST /weight, a reshard), and starting with another
// would move keys without copying them.
var ErrWeightChanged = errors.New("--weight differs from the weight kept in --weight-file")

// savedWeights is the content of --weight-file: the weights a fleet node
// advertises, as set at runtime, for the node named Node.
type savedWeights struct {
	Node       string `json:"node"`
	Weight     int    `json:"weight"`
	NextWeight int    `json:"next_weight,omitempty"`
}

// checkWeight checks --weight and --weight-file: for fleet nodes, and a
// weight of at least 1.
func (f fleetOptions) checkWeight() error {
	if f.zone == "" && (f.weightSet || f.weightFile != "") {
		return errors.New("--weight and --weight-file are for fleet nodes (--zone)")
	}
	if f.weight < 1 {
		return fmt.Errorf("--weight %d: must be at least 1", f.weight)
	}
	return nil
}

// startWeights returns the weight and next weight node name starts with:
// --weight-file's when it exists (an explicit --weight must then match
// it), else --weight's (0, which means 1, when not given) and none.
func (f fleetOptions) startWeights(name string) (weight, next int, err error) {
	flagWeight := 0
	if f.weightSet {
		flagWeight = f.weight
	}
	if f.weightFile == "" {
		return flagWeight, 0, nil
	}
	b, err := os.ReadFile(f.weightFile)
	if errors.Is(err, os.ErrNotExist) {
		return flagWeight, 0, nil
	}
	if err != nil {
		return 0, 0, fmt.Errorf("--weight-file: %w", err)
	}
	var w savedWeights
	if err := json.Unmarshal(b, &w); err != nil || w.Weight < 1 || w.NextWeight < 0 {
		return 0, 0, fmt.Errorf("--weight-file %s: want {\"node\": NAME, \"weight\": W >= 1, \"next_weight\": N >= 0}: %v", f.weightFile, err)
	}
	if w.Node != name {
		return 0, 0, fmt.Errorf("--weight-file %s keeps the weights of node %q, not %q: give each node its own file", f.weightFile, w.Node, name)
	}
	if f.weightSet && f.weight != w.Weight {
		return 0, 0, fmt.Errorf("%w: --weight %d, but %s keeps weight %d (next %d), set at runtime (POST /weight, a reshard): start with --weight %d or without --weight, or remove the file to start with --weight %d",
			ErrWeightChanged, f.weight, f.weightFile, w.Weight, w.NextWeight, w.Weight, f.weight)
	}
	return w.Weight, w.NextWeight, nil
}

// weightSaver returns membership.Config.SaveWeights for node name: it
// writes --weight-file (a new file renamed over the old one, so that a
// crash leaves one or the other whole). Without --weight-file it only
// warns that the change will not survive a restart.
func (f fleetOptions) weightSaver(name string, log *slog.Logger) func(weight, next int) error {
	if f.weightFile == "" {
		return func(weight, next int) error {
			log.Warn("weight changed at runtime is not kept across a restart (no --weight-file): start the node with --weight "+fmt.Sprint(weight), "weight", weight, "next_weight", next)
			return nil
		}
	}
	return func(weight, next int) error {
		return writeFileAtomic(f.weightFile, savedWeights{Node: name, Weight: weight, NextWeight: next})
	}
}

// writeFileAtomic writes v as JSON to path through a temporary file in
// its directory, synced, then renamed over path.
func writeFileAtomic(path string, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), filepath.Base(path)+".tmp-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name()) // fails harmlessly once renamed
	if _, err := tmp.Write(append(b, '\n')); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}
