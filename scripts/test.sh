#!/usr/bin/env bash
# Runs every test Vigil has. This is the README's test command and what CI runs.
# It installs nothing by hand: whatever a test needs is fetched here, pinned.
set -euo pipefail
cd "$(dirname "$0")/.."

step() { printf '\n==> %s\n' "$*"; }

step "go vet"
go vet ./...

step "gofmt"
unformatted=$(gofmt -l $(git ls-files '*.go' 2>/dev/null || find . -name '*.go'))
if [ -n "$unformatted" ]; then
  echo "not gofmt-formatted:"; echo "$unformatted"; exit 1
fi

step "catalog"
go run ./cmd/vigil check --config vigil.yaml

# The Cosmos store's contract tests run against a real server speaking the
# Cosmos DB REST API, pinned by tools/cosmosdb-server/package-lock.json.
step "install the Cosmos DB test server (npm ci, pinned)"
(cd tools/cosmosdb-server && npm ci --no-fund --no-audit --loglevel=error)

step "go test -race"
go test -race -count=1 ./...

# A count, not a duration: duration-based runs can fail spuriously on Go 1.26
# (a fuzz coordinator race, golang/go#75804).
step "fuzz the intake parsers (${FUZZTIME:=200000x} each)"
for target in FuzzParseAzureMonitor FuzzParseGeneric FuzzParseCaseReport; do
  go test -run '^$' -fuzz "^${target}\$" -fuzztime "$FUZZTIME" ./internal/intake
done
step "fuzz the acknowledge-link signature (${FUZZTIME})"
go test -run '^$' -fuzz '^FuzzAckToken$' -fuzztime "$FUZZTIME" ./internal/signedlink

step "all tests passed"
