#!/bin/sh
# vulncheck: govulncheck (pinned) over the module, against the Go
# vulnerability database of a pinned golang.org/x/vulndb module (from the
# Go module proxy, turned into govulncheck's layout by scripts/vulndb.go),
# so it runs where vuln.go.dev cannot be reached. Bump VULNDB_VERSION to
# see newer reports. Exit status 3: vulnerabilities found.
set -eu
GO=${GO:-go}
GOVULNCHECK_VERSION=${GOVULNCHECK_VERSION:-v1.9.0}
VULNDB_VERSION=${VULNDB_VERSION:-v0.0.0-20261105234957-e22db6528018}
bin="$($GO env GOPATH)/bin/govulncheck"
if ! "$bin" -version 2>/dev/null | grep -q "govulncheck@$GOVULNCHECK_VERSION"; then
	$GO install "golang.org/x/vuln/cmd/govulncheck@$GOVULNCHECK_VERSION"
fi
dir=$($GO mod download -json "golang.org/x/vulndb@$VULNDB_VERSION" | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')
db=$(mktemp -d)
trap 'rm -rf "$db"' EXIT
$GO run scripts/vulndb.go "$dir/data/osv" "$db"
"$bin" -db "file://$db" ./...
