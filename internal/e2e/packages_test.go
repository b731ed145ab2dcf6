package e2e

import (
	"bytes"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"slices"
	"strings"
	"testing"
)

// updatePackages rewrites docs/packages.md instead of comparing it:
// `make packages`.
var updatePackages = flag.Bool("update-packages", false, "rewrite docs/packages.md from go list")

// packagesDoc is the committed package diagram, from this package's directory.
const packagesDoc = "../../docs/packages.md"

// TestPackageDiagram fails when docs/packages.md no longer matches the
// imports `go list` reports, so the diagram cannot drift from the code.
func TestPackageDiagram(t *testing.T) {
	module := goList(t, "-m")
	want := packageDiagram(module, goList(t, "-f", `{{.ImportPath}} {{join .Imports " "}}`, "../../..."))
	if *updatePackages {
		if err := os.WriteFile(packagesDoc, want, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	got, err := os.ReadFile(packagesDoc)
	if err != nil {
		t.Fatalf("%v (run `make packages`)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("docs/packages.md does not match go list; run `make packages` and commit it. Want:\n%s", want)
	}
}

// TestLayoutTableNamesEveryPackage fails when a package of the module is
// missing from the README's Layout table (a command counts under cmd/).
func TestLayoutTableNamesEveryPackage(t *testing.T) {
	module := goList(t, "-m")
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	_, layout, _ := strings.Cut(string(readme), "\n## Layout\n")
	layout, _, _ = strings.Cut(layout, "\n## ")
	for _, path := range strings.Fields(goList(t, "../../...")) {
		pkg := strings.TrimPrefix(path, module+"/")
		if strings.HasPrefix(pkg, "cmd/") {
			pkg = "cmd"
		}
		if !strings.Contains(layout, "`"+pkg+"/`") {
			t.Errorf("README's Layout table does not name `%s/`", pkg)
		}
	}
}

// goList runs `go list args...` and returns its output, trimmed.
func goList(t *testing.T, args ...string) string {
	t.Helper()
	out, err := exec.Command("go", append([]string{"list"}, args...)...).Output()
	if err != nil {
		t.Fatalf("go list %s: %v", strings.Join(args, " "), err)
	}
	return strings.TrimSpace(string(out))
}

// packageDiagram renders the Markdown page of the module's package graph
// from go list lines "path import...": one Mermaid node per package, one
// edge per import of another module package (go list's Imports leave test
// imports out).
func packageDiagram(module, listing string) []byte {
	var b bytes.Buffer
	fmt.Fprintf(&b, "# Packages\n\n")
	fmt.Fprintf(&b, "Who imports whom inside %s (test-only imports left out). Generated from\n", module)
	fmt.Fprintf(&b, "`go list -f '{{.ImportPath}} {{join .Imports \" \"}}' ./...` by `make packages`; do not edit:\n")
	fmt.Fprintf(&b, "`TestPackageDiagram` (internal/e2e) fails when it no longer matches.\n\n")
	fmt.Fprintf(&b, "```mermaid\ngraph TD\n")
	var edges []string
	for _, line := range strings.Split(listing, "\n") {
		fields := strings.Fields(line)
		pkg := strings.TrimPrefix(fields[0], module+"/")
		fmt.Fprintf(&b, "    %s[\"%s\"]\n", mermaidID(pkg), pkg)
		for _, imp := range fields[1:] {
			if dep, ok := strings.CutPrefix(imp, module+"/"); ok {
				edges = append(edges, fmt.Sprintf("    %s --> %s\n", mermaidID(pkg), mermaidID(dep)))
			}
		}
	}
	slices.Sort(edges)
	b.WriteString(strings.Join(edges, ""))
	b.WriteString("```\n")
	return b.Bytes()
}

// mermaidID turns a package path into a Mermaid node id.
func mermaidID(pkg string) string {
	return strings.NewReplacer("/", "_", ".", "_", "-", "_").Replace(pkg)
}
