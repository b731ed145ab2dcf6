package check

import (
	"bufio"
	"context"
	"debug/elf"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/zonecache/zonecache/internal/testproc"
)

// image is what the Dockerfile says about the image.
type image struct {
	buildEnv   []string // the build stage's ENV lines, KEY=VALUE
	buildFlags []string // go build's flags, before -o
	packages   []string // what go build builds
	binaries   []string // the binaries copied to the final stage's root
	base       string   // the final stage's FROM
	uid, gid   int      // the final stage's USER
	entrypoint string
}

// parseDockerfile reads the few instructions the checks depend on, in the
// simple forms deploy/Dockerfile uses.
func parseDockerfile(t *testing.T, path string) image {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var im image
	im.uid, im.gid = -1, -1
	for _, line := range strings.Split(string(b), "\n") {
		instr, rest, _ := strings.Cut(strings.TrimSpace(line), " ")
		switch instr {
		case "FROM":
			im.base = strings.Fields(rest)[0]
		case "ENV":
			im.buildEnv = append(im.buildEnv, rest)
		case "RUN":
			if words := shellWords(rest); len(words) > 2 && words[0] == "go" && words[1] == "build" {
				o := slices.Index(words, "-o")
				im.buildFlags, im.packages = words[2:o], words[o+2:]
			}
		case "COPY":
			words := strings.Fields(rest)
			if strings.HasPrefix(words[0], "--from=") {
				for _, src := range words[1 : len(words)-1] {
					im.binaries = append(im.binaries, filepath.Base(src))
				}
			}
		case "USER":
			u, g, _ := strings.Cut(rest, ":")
			im.uid, _ = strconv.Atoi(u)
			im.gid, _ = strconv.Atoi(g)
		case "ENTRYPOINT":
			im.entrypoint = strings.Trim(rest, `[]" `)
		}
	}
	return im
}

// shellWords splits s at spaces, keeping double-quoted text (quotes
// removed) in its word: enough for the Dockerfile's go build line.
func shellWords(s string) []string {
	var words []string
	var w strings.Builder
	quoted, inWord := false, false
	for _, r := range s {
		switch {
		case r == '"':
			quoted, inWord = !quoted, true
		case r == ' ' && !quoted:
			if inWord {
				words, inWord = append(words, w.String()), false
				w.Reset()
			}
		default:
			w.WriteRune(r)
			inWord = true
		}
	}
	if inWord {
		words = append(words, w.String())
	}
	return words
}

// TestDockerfileImage checks the image definition: static Go binaries on
// an empty base, run as a non-root user, zonecached the entrypoint.
func TestDockerfileImage(t *testing.T) {
	im := parseDockerfile(t, "../Dockerfile")
	if im.base != "scratch" && !strings.HasPrefix(im.base, "gcr.io/distroless/static") {
		t.Errorf("final stage FROM %s, want scratch or distroless/static", im.base)
	}
	if im.uid <= 0 || im.gid <= 0 {
		t.Errorf("USER %d:%d, want a numeric non-root user and group", im.uid, im.gid)
	}
	if !slices.Contains(im.buildEnv, "CGO_ENABLED=0") {
		t.Errorf("build ENV %q: want CGO_ENABLED=0 (static binaries)", im.buildEnv)
	}
	if !slices.Contains(im.buildFlags, "-trimpath") || len(im.packages) == 0 {
		t.Errorf("go build flags %q packages %q: want -trimpath and packages", im.buildFlags, im.packages)
	}
	if im.entrypoint != "/zonecached" || !slices.Contains(im.binaries, "zonecached") || !slices.Contains(im.binaries, "zonecache") {
		t.Errorf("ENTRYPOINT %q, binaries %q: want /zonecached, and zonecache for the preStop hook", im.entrypoint, im.binaries)
	}
}

// built is the image's root, built once for the tests that need it.
var built struct {
	once sync.Once
	root string
	err  error
}

// imageRoot returns a directory holding the image's binaries, built with
// the Dockerfile's environment and flags, as the final stage's root.
func imageRoot(t *testing.T) string {
	t.Helper()
	im := parseDockerfile(t, "../Dockerfile")
	built.once.Do(func() { built.root, built.err = buildImageRoot(im) })
	if built.err != nil {
		t.Fatal(built.err)
	}
	for _, bin := range im.binaries {
		checkStatic(t, filepath.Join(built.root, bin))
	}
	return built.root
}

// buildImageRoot builds im's binaries into a new directory.
func buildImageRoot(im image) (string, error) {
	root, err := os.MkdirTemp("", "zonecache-image-")
	if err != nil {
		return "", err
	}
	if err := os.Chmod(root, 0o755); err != nil {
		return "", err
	}
	args := append([]string{"build"}, im.buildFlags...)
	args = append(args, "-o", root+"/")
	args = append(args, im.packages...)
	cmd := exec.Command("go", args...)
	cmd.Dir = "../.."
	cmd.Env = append(os.Environ(), im.buildEnv...)
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go %s: %w\n%s", strings.Join(args, " "), err, out)
	}
	return root, nil
}

func TestMain(m *testing.M) {
	code := m.Run()
	if built.root != "" {
		os.RemoveAll(built.root)
	}
	os.Exit(code)
}

// checkStatic fails unless the ELF file at path needs no dynamic loader
// and no shared library: an empty image has neither.
func checkStatic(t *testing.T, path string) {
	t.Helper()
	f, err := elf.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			t.Errorf("%s: dynamically linked (has an interpreter)", path)
		}
	}
	if libs, _ := f.ImportedLibraries(); len(libs) > 0 {
		t.Errorf("%s: needs shared libraries %q", path, libs)
	}
}

// inRoot returns a command running name in the chroot root as the image's
// user, with the environment a container gets.
func inRoot(ctx context.Context, root string, im image, name string, args ...string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, "/"+name, args...)
	cmd.Dir = "/"
	cmd.Env = []string{"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "HOME=/"}
	cmd.SysProcAttr = &syscall.SysProcAttr{
		Chroot:     root,
		Credential: &syscall.Credential{Uid: uint32(im.uid), Gid: uint32(im.gid)},
	}
	return cmd
}

// TestImageBinariesRunInEmptyRoot builds the image's binaries as the
// Dockerfile does and runs them in a root holding nothing else, as the
// image's user: each answers -h, and zonecached, as a fleet node reading
// its gossip key, answers `version` on its cache port and /healthz on its
// admin port, then stops cleanly on SIGTERM.
func TestImageBinariesRunInEmptyRoot(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("chroot needs root (make test runs as root)")
	}
	im := parseDockerfile(t, "../Dockerfile")
	root := imageRoot(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	for _, bin := range im.binaries {
		out, err := inRoot(ctx, root, im, bin, "-h").CombinedOutput()
		if err != nil || !strings.Contains(strings.ToLower(string(out)), "usage") {
			t.Errorf("%s -h in the empty root: %v\n%s", bin, err, out)
		}
	}
	keyDir := filepath.Join(root, "run", "zonecache")
	writeOwned(t, keyDir, "gossip-key", "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=\n", im)
	cache, admin, gossip := testproc.FreePort(t, "127.0.0.1"), testproc.FreePort(t, "127.0.0.1"), testproc.FreePort(t, "127.0.0.1")
	cmd := inRoot(ctx, root, im, "zonecached", "-l=127.0.0.1", "-p="+strconv.Itoa(cache),
		"--admin-addr=127.0.0.1:"+strconv.Itoa(admin), "--zone=a", "--node-name=zonecached-a-0",
		"--gossip-addr=127.0.0.1:"+strconv.Itoa(gossip), "--gossip-key-file=/run/zonecache/gossip-key",
		"--state=serving", "-m=16", "--drain-timeout=1s")
	var out testproc.SyncBuffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	answer := askVersion(t, cache, &out)
	if !strings.HasPrefix(answer, "VERSION ") {
		t.Errorf("version answered %q", answer)
	}
	resp, err := http.Get(fmt.Sprintf("http://127.0.0.1:%d/healthz", admin))
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Errorf("/healthz: %v %v", resp, err)
	} else {
		resp.Body.Close()
	}
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if err := cmd.Wait(); err != nil {
		t.Errorf("zonecached after SIGTERM: %v\n%s", err, out.String())
	}
}

// writeOwned writes a file of the image's user, mode 0400, in dir.
func writeOwned(t *testing.T, dir, name, text string, im image) {
	t.Helper()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, []byte(text), 0o400); err != nil {
		t.Fatal(err)
	}
	if err := os.Chown(path, im.uid, im.gid); err != nil {
		t.Fatal(err)
	}
}

// askVersion sends `version` to the cache port once it accepts
// connections (polling: the process starts at its own pace) and returns
// the answer's first line.
func askVersion(t *testing.T, port int, out *testproc.SyncBuffer) string {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for {
		conn, err := net.DialTimeout("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)), time.Second)
		if err == nil {
			defer conn.Close()
			_ = conn.SetDeadline(time.Now().Add(30 * time.Second))
			if _, err := conn.Write([]byte("version\r\n")); err != nil {
				t.Fatal(err)
			}
			line, err := bufio.NewReader(conn).ReadString('\n')
			if err != nil {
				t.Fatalf("reading the answer to version: %v", err)
			}
			return strings.TrimSpace(line)
		}
		if time.Now().After(deadline) {
			t.Fatalf("zonecached in the empty root never listened on %d: %v\n%s", port, err, out.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestManifestFlagsExist checks that every flag the StatefulSet passes to
// zonecached, and the preStop hook to zonecache promote, is one the
// binaries define (their -h lists them).
func TestManifestFlagsExist(t *testing.T) {
	root := imageRoot(t)
	r := render(t, overlay)
	c := container(t, r.sets[0])
	checkFlags(t, flagsOf(t, filepath.Join(root, "zonecached"), "-h"), c.Args, "zonecached")
	preStop := c.Lifecycle.PreStop.Exec.Command
	checkFlags(t, flagsOf(t, filepath.Join(root, "zonecache"), "promote", "-h"), preStop[2:], "zonecache promote")
}

func checkFlags(t *testing.T, defined map[string]bool, args []string, what string) {
	t.Helper()
	for _, a := range args {
		name, _, _ := strings.Cut(strings.TrimLeft(a, "-"), "=")
		switch {
		case defined[name]:
		default:
			t.Errorf("%s does not define --%s (passed as %q)", what, name, a)
		}
	}
}

var flagLine = regexp.MustCompile(`(?m)^  -([A-Za-z0-9-]+)`)

// flagsOf runs a binary's help and returns the flags it lists.
func flagsOf(t *testing.T, bin string, args ...string) map[string]bool {
	t.Helper()
	out, _ := exec.Command(bin, args...).CombinedOutput()
	flags := map[string]bool{}
	for _, m := range flagLine.FindAllStringSubmatch(string(out), -1) {
		flags[m[1]] = true
	}
	if len(flags) == 0 {
		t.Fatalf("%s %q listed no flags:\n%s", bin, args, out)
	}
	return flags
}
