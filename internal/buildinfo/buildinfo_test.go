package buildinfo

import (
	"runtime/debug"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

func TestFromBuildInfo(t *testing.T) {
	own := &debug.BuildInfo{GoVersion: "go1.25.0", Main: debug.Module{Path: modulePath, Version: "v0.3.0"},
		Settings: []debug.BuildSetting{{Key: "vcs.revision", Value: "abc123"}, {Key: "vcs.modified", Value: "true"}}}
	if got, want := fromBuildInfo(own), (Info{"v0.3.0", "abc123+dirty", "go1.25.0"}); got != want {
		t.Errorf("zonecache's binary: %+v, want %+v", got, want)
	}
	app := &debug.BuildInfo{GoVersion: "go1.26.0", Main: debug.Module{Path: "example.com/app", Version: "v1.0.0"},
		Deps:     []*debug.Module{{Path: "golang.org/x/net", Version: "v0.60.0"}, {Path: modulePath, Version: "v0.2.1"}},
		Settings: []debug.BuildSetting{{Key: "vcs.revision", Value: "app-rev"}}}
	if got, want := fromBuildInfo(app), (Info{"v0.2.1", "unknown", "go1.26.0"}); got != want {
		t.Errorf("an application using the client: %+v, want %+v (not the application's revision)", got, want)
	}
}

func TestCollector(t *testing.T) {
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(Info{"v0.3.0", "abc123", "go1.25.0"}.Collector())
	want := `# HELP zonecache_build_info The zonecache build running: module version, VCS revision, Go version (always 1).
# TYPE zonecache_build_info gauge
zonecache_build_info{goversion="go1.25.0",revision="abc123",version="v0.3.0"} 1
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want)); err != nil {
		t.Error(err)
	}
	if s := (Info{"v0.3.0", "abc123", "go1.25.0"}).String(); s != "v0.3.0 (revision abc123, go1.25.0)" {
		t.Errorf("String() = %q", s)
	}
}
