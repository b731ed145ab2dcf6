// Package buildinfo says which build of zonecache is running: the module's
// version, the VCS revision and the Go version, for --version and the
// zonecache_build_info metric.
package buildinfo

import (
	"fmt"
	"runtime/debug"

	"github.com/prometheus/client_golang/prometheus"
)

// modulePath is zonecache's module path.
const modulePath = "github.com/zonecache/zonecache"

// Info describes the running build. Unknown fields are "unknown".
type Info struct {
	// Version is zonecache's module version: a tag, a pseudo-version, or
	// "(devel)" for a build from a checkout without VCS information.
	Version string
	// Revision is the VCS commit the binary was built from, with a
	// "+dirty" suffix when the work tree had changes; known only for
	// zonecache's own binaries.
	Revision string
	// GoVersion is the Go release that built the binary.
	GoVersion string
}

// Read returns the running build's Info.
func Read() Info {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return Info{Version: "unknown", Revision: "unknown", GoVersion: "unknown"}
	}
	return fromBuildInfo(bi)
}

// fromBuildInfo finds zonecache's module in bi: the main module for
// zonecache's binaries, a dependency for a program using the client.
func fromBuildInfo(bi *debug.BuildInfo) Info {
	info := Info{Version: "unknown", Revision: "unknown", GoVersion: bi.GoVersion}
	if bi.Main.Path != modulePath {
		for _, d := range bi.Deps {
			if d.Path == modulePath {
				info.Version = d.Version
			}
		}
		return info
	}
	info.Version = bi.Main.Version
	dirty := false
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			info.Revision = s.Value
		case "vcs.modified":
			dirty = s.Value == "true"
		}
	}
	if dirty && info.Revision != "unknown" {
		info.Revision += "+dirty"
	}
	return info
}

// String is the --version line: "<version> (revision <rev>, <go version>)".
func (i Info) String() string {
	return fmt.Sprintf("%s (revision %s, %s)", i.Version, i.Revision, i.GoVersion)
}

// Collector returns the gauge zonecache_build_info{version,revision,goversion},
// always 1, the convention for joining build labels onto other series.
func (i Info) Collector() prometheus.Collector {
	g := prometheus.NewGauge(prometheus.GaugeOpts{
		Name:        "zonecache_build_info",
		Help:        "The zonecache build running: module version, VCS revision, Go version (always 1).",
		ConstLabels: prometheus.Labels{"version": i.Version, "revision": i.Revision, "goversion": i.GoVersion},
	})
	g.Set(1)
	return g
}
