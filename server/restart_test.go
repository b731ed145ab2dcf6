package server

import (
	"context"
	"errors"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"testing"
)

func TestRestartFileInADirectoryThatCannotTakeItFailsAtNew(t *testing.T) {
	_, err := New(Config{RestartFile: filepath.Join(t.TempDir(), "missing", "cache"), Logger: slog.New(slog.DiscardHandler)})
	if !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("New with a restart file in a missing directory: %v", err)
	}
}

func TestCloseDoesNotSaveAndShutdownAfterCloseSavesNothing(t *testing.T) {
	file := filepath.Join(t.TempDir(), "cache")
	s, addr := startServer(t, Config{RestartFile: file})
	if got := dial(t, addr).do("set k 0 0 1\r\nv\r\n"); got != "STORED\r\n" {
		t.Fatalf("set: %q", got)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(file); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("a restart file after Close and Shutdown (%v): Close drops the store, and a save after it would be empty", err)
	}

	s, addr = startServer(t, Config{RestartFile: file})
	dial(t, addr).do("set k 0 0 1\r\nv\r\n")
	if err := s.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	_, addr = startServer(t, Config{RestartFile: file})
	if got := dial(t, addr).do("get k\r\n"); got != "VALUE k 0 1\r\nv\r\nEND\r\n" {
		t.Fatalf("get after Shutdown and New on the file: %q", got)
	}
}
