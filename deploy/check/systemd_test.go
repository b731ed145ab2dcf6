package check

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

const unitFile = "../systemd/zonecached.service"

// TestSystemdUnit checks the unit's hardening, that zonecached defines
// every flag its ExecStart passes, and, where systemd-analyze is
// installed, that systemd reads it without a complaint (an unknown key is
// only a warning to systemd, so any output fails).
func TestSystemdUnit(t *testing.T) {
	b, err := os.ReadFile(unitFile)
	if err != nil {
		t.Fatal(err)
	}
	unit := string(b)
	for _, want := range []string{"DynamicUser=yes", "NoNewPrivileges=yes", "ProtectSystem=strict", "ProtectHome=yes",
		"PrivateDevices=yes", "CapabilityBoundingSet=\n", "LoadCredential=gossip-key:", "LoadCredential=admin-token:"} {
		if !strings.Contains(unit, want) {
			t.Errorf("the unit lacks %q", strings.TrimSpace(want))
		}
	}
	root := imageRoot(t)
	bin := filepath.Join(root, "zonecached")
	words := execStart(unit)
	if len(words) == 0 || words[0] != "/usr/local/bin/zonecached" {
		t.Fatalf("ExecStart %q, want /usr/local/bin/zonecached ...", words)
	}
	checkFlags(t, flagsOf(t, bin, "-h"), words[1:], "zonecached (systemd unit)")
	verifyUnit(t, strings.Replace(unit, "/usr/local/bin/zonecached", bin, 1))
}

// execStart returns ExecStart's words, its continuation lines joined.
func execStart(unit string) []string {
	_, rest, ok := strings.Cut(unit, "\nExecStart=")
	if !ok {
		return nil
	}
	var line strings.Builder
	for _, l := range strings.Split(rest, "\n") {
		l, more := strings.CutSuffix(strings.TrimSpace(l), "\\")
		line.WriteString(l + " ")
		if !more {
			break
		}
	}
	return strings.Fields(line.String())
}

// verifyUnit runs systemd-analyze verify on unit, installed under its
// name in a temporary directory.
func verifyUnit(t *testing.T, unit string) {
	t.Helper()
	analyze, err := exec.LookPath("systemd-analyze")
	if err != nil {
		t.Log("systemd-analyze not installed: the unit was not verified by systemd")
		return
	}
	path := filepath.Join(t.TempDir(), "zonecached.service")
	if err := os.WriteFile(path, []byte(unit), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(analyze, "verify", path).CombinedOutput()
	if err != nil || len(strings.TrimSpace(string(out))) > 0 {
		t.Errorf("systemd-analyze verify: %v\n%s", err, out)
	}
}
