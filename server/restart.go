package server

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"
)

// tempSuffix names the file a save writes before renaming it over
// Config.RestartFile.
const tempSuffix = ".tmp"

// checkRestartDir fails early, at New, when the restart file's directory
// cannot take the save that Shutdown will make.
func checkRestartDir(path string) error {
	f, err := os.OpenFile(path+tempSuffix, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return fmt.Errorf("server: restart file: %w", err)
	}
	f.Close()
	return os.Remove(path + tempSuffix)
}

// loadRestartFile fills the store from Config.RestartFile, if there is one,
// and removes the file: from now on it is older than the store, and a
// crash before the next save must start empty rather than bring back
// values overwritten or deleted since. A file that does not validate is
// logged and removed, and the node starts empty.
func (s *Server) loadRestartFile() error {
	path := s.cfg.RestartFile
	log := s.log.With("restart_file", path)
	f, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		log.Info("no restart file: starting empty")
		return checkRestartDir(path)
	}
	if err != nil {
		return fmt.Errorf("server: open restart file: %w", err)
	}
	start := time.Now()
	st, err := s.store.ReadSnapshot(context.Background(), f)
	f.Close()
	if err != nil {
		log.Warn("restart file not valid: starting empty", "err", err)
	} else {
		log.Info("restart file loaded", "items", st.Loaded, "expired_since", st.Expired, "skipped", st.Skipped,
			"saved_at", st.Saved.UTC().Format(time.RFC3339), "took", time.Since(start).Round(time.Millisecond))
	}
	if err := os.Remove(path); err != nil {
		return fmt.Errorf("server: remove loaded restart file: %w", err)
	}
	return checkRestartDir(path)
}

// saveOnShutdown saves the store to Config.RestartFile, if it is set,
// unless the store was closed already (Close, or an earlier Shutdown): an
// empty save would replace nothing useful.
func (s *Server) saveOnShutdown() error {
	if s.cfg.RestartFile == "" {
		return nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil
	}
	return s.saveRestartFile()
}

// saveRestartFile writes the store to Config.RestartFile: to a temporary
// file first, synced to disk, then renamed over the path, so that the path
// holds a complete file or none whenever the process dies.
func (s *Server) saveRestartFile() error {
	path := s.cfg.RestartFile
	start := time.Now()
	tmp := path + tempSuffix
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return fmt.Errorf("server: save restart file: %w", err)
	}
	n, err := s.store.WriteSnapshot(context.Background(), f)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		os.Remove(tmp)
		return fmt.Errorf("server: save restart file: %w", err)
	}
	syncDir(filepath.Dir(path))
	size := int64(0)
	if fi, err := os.Stat(path); err == nil {
		size = fi.Size()
	}
	s.log.Info("restart file saved", "restart_file", path, "items", n, "bytes", size, "took", time.Since(start).Round(time.Millisecond))
	return nil
}

// syncDir makes a rename in dir durable; file systems that cannot sync a
// directory are left as they are.
func syncDir(dir string) {
	if d, err := os.Open(dir); err == nil {
		_ = d.Sync()
		d.Close()
	}
}
