package serverbench

import (
	"context"
	"strings"
	"testing"
)

func TestStartFailureShowsTheServersOutput(t *testing.T) {
	_, err := launch(context.Background(), "sh", "/bin/sh", []string{"-c", "echo no such flag >&2; exit 3"}, 1, "")
	if err == nil || !strings.Contains(err.Error(), "no such flag") {
		t.Fatalf("err = %v, want it to quote the server's output", err)
	}
}
