package client

import (
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
)

// The README's table of client metrics names every metric the client
// registers, and nothing else.
func TestREADMEListsEveryClientMetric(t *testing.T) {
	readme, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	documented := readmeClientMetrics(t, string(readme))
	m, err := newMetrics(&core{}, prometheus.NewPedanticRegistry())
	if err != nil {
		t.Fatal(err)
	}
	fqName := regexp.MustCompile(`fqName: "([^"]+)"`)
	var registered []string
	for _, col := range m.all() {
		ch := make(chan *prometheus.Desc, 16)
		col.Describe(ch)
		close(ch)
		for d := range ch {
			registered = append(registered, fqName.FindStringSubmatch(d.String())[1])
		}
	}
	slices.Sort(registered)
	for _, name := range registered {
		if !slices.Contains(documented, name) {
			t.Errorf("%s is registered but not in the README's table of client metrics", name)
		}
	}
	for _, name := range documented {
		if !slices.Contains(registered, name) {
			t.Errorf("%s is in the README's table but the client registers no such metric", name)
		}
	}
}

// readmeClientMetrics returns the metric names in the first column of the
// README's table of client metrics. A name written `_suffix_total` after a
// full one shares its prefix: as many parts are replaced as it has.
func readmeClientMetrics(t *testing.T, readme string) []string {
	_, table, ok := strings.Cut(readme, "The client's Prometheus metrics")
	if !ok {
		t.Fatal("README has no table of client metrics")
	}
	code := regexp.MustCompile("`([a-z_]+)[^`]*`")
	var names []string
	for _, line := range strings.Split(table, "\n")[3:] {
		if !strings.HasPrefix(line, "|") {
			if len(names) > 0 {
				break
			}
			continue
		}
		first := strings.Split(line, "|")[1]
		var last string
		for _, m := range code.FindAllStringSubmatch(first, -1) {
			name := m[1]
			if strings.HasPrefix(name, "_") {
				parts := strings.Split(last, "_")
				name = strings.Join(parts[:len(parts)-strings.Count(name, "_")], "_") + name
			}
			names = append(names, name)
			last = name
		}
	}
	if len(names) == 0 {
		t.Fatal("README's table of client metrics is empty")
	}
	return names
}
