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

# Terraform is checked with the real azurerm provider, built from its Go module
# at a pinned version (about 9 minutes once, then cached), and a terraform CLI
# (the one on PATH if 1.11+, else built the same way). This also exports
# VIGIL_TERRAFORM and TF_CLI_CONFIG_FILE for vigil deploy's tests below.
step "Terraform CLI and azurerm provider (built from Go modules, pinned, cached)"
eval "$(scripts/terraform-tools.sh)"
export TF_IN_AUTOMATION=1
# (Terraform warns that provider development overrides are in effect on
# every command below: that is expected, and how the built provider is used.)

step "terraform fmt -check"
terraform fmt -check -recursive -diff infra

step "terraform validate (the module, then each example that calls it)"
(cd infra && terraform validate -no-color >/dev/null && echo "infra: valid")
for example in infra/examples/*/; do
  (cd "$example" && terraform get -no-color >/dev/null && terraform validate -no-color >/dev/null && echo "$example: valid")
done

step "terraform test (mocked azurerm provider, real schema)"
(cd infra && terraform test -no-color)

step "go test -race"
go test -race -count=1 ./...

# A count, not a duration: duration-based runs can fail spuriously on Go 1.26
# (a fuzz coordinator race, golang/go#75804).
step "fuzz the intake parsers (${FUZZTIME:=200000x} each)"
for target in FuzzParseAzureMonitor FuzzParseGeneric FuzzParseCaseReport; do
  go test -run '^$' -fuzz "^${target}\$" -fuzztime "$FUZZTIME" ./internal/intake
done
step "fuzz the queue message decoders (${FUZZTIME} each)"
for target in FuzzIntakeMessage FuzzEscalationMessage FuzzStatusMessage FuzzNotification; do
  go test -run '^$' -fuzz "^${target}\$" -fuzztime "$FUZZTIME" ./internal/app
done
step "fuzz the acknowledge-link signature (${FUZZTIME})"
go test -run '^$' -fuzz '^FuzzAckToken$' -fuzztime "$FUZZTIME" ./internal/signedlink

step "all tests passed"
