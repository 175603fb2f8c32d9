#!/usr/bin/env bash
# Provides a Terraform CLI and the azurerm provider for the Terraform checks,
# both built from their Go modules at pinned versions and cached, then writes
# a CLI configuration whose dev_overrides block points Terraform at the
# provider. Prints `export ...` lines for the caller to eval.
#
#   eval "$(scripts/terraform-tools.sh)"
#
# The provider registry is not reachable from CI here, so the provider is
# built rather than downloaded (about 9 minutes on 2 cores, once; afterwards
# the cached binary is reused).
set -euo pipefail

# A commit of hashicorp/terraform-provider-azurerm from 2026-08-24, just after
# v5.2.0; tagged v5 versions are not served as Go modules.
AZURERM_VERSION="v1.44.1-0.20260824201233-fae580791926"
# Used only when no terraform is on PATH. infra/ needs 1.11 or later
# (write-only arguments; mock_provider in terraform test needs 1.7).
TERRAFORM_VERSION="v1.13.3"

cache="${VIGIL_TOOLS_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/vigil-tools}"
provider_dir="$cache/terraform-provider-azurerm/$AZURERM_VERSION"
mkdir -p "$provider_dir"

log() { printf '%s\n' "$*" >&2; }

if [ ! -x "$provider_dir/terraform-provider-azurerm" ]; then
  log "building terraform-provider-azurerm $AZURERM_VERSION from its Go module (about 9 minutes, cached afterwards)"
  tmp="$provider_dir.tmp.$$"
  rm -rf "$provider_dir".tmp.*
  mkdir -p "$tmp"
  trap 'rm -rf "$tmp"' EXIT
  GOBIN="$tmp" go install "github.com/hashicorp/terraform-provider-azurerm@$AZURERM_VERSION" >&2
  mv "$tmp/terraform-provider-azurerm" "$provider_dir/terraform-provider-azurerm"
  rmdir "$tmp"
fi

terraform_bin="$(command -v terraform || true)"
if [ -n "$terraform_bin" ] && ! "$terraform_bin" version -json 2>/dev/null | grep -Eq '"terraform_version": *"1\.(1[1-9]|[2-9][0-9])\.'; then
  log "terraform on PATH ($terraform_bin) is older than 1.11: building $TERRAFORM_VERSION instead"
  terraform_bin=""
fi
if [ -z "$terraform_bin" ]; then
  tf_dir="$cache/terraform/$TERRAFORM_VERSION"
  if [ ! -x "$tf_dir/terraform" ]; then
    log "no terraform 1.11+ on PATH: building terraform $TERRAFORM_VERSION from its Go module"
    # Terraform's go.mod replaces its nested modules (remote state backends:
    # s3, azurerm, gcs, ...) with directories of its own tree. The module
    # proxy serves neither those nested modules nor a download holding them,
    # and `go install pkg@version` refuses replace directives. So build in a
    # copy of the module with those backends taken out: this terraform keeps
    # local state only, which is all the checks here need. (To deploy with a
    # remote backend, use a released Terraform.)
    mod="github.com/hashicorp/terraform"
    src="$(go mod download -json "$mod@$TERRAFORM_VERSION" | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')"
    [ -n "$src" ] || { log "could not download $mod@$TERRAFORM_VERSION"; exit 1; }
    work="$(mktemp -d)"
    cp -R "$src"/. "$work"
    chmod -R u+w "$work"
    nested="$(sed -n "s#^replace $mod/\([^ ]*\) => \./.*#\1#p" "$work/go.mod")"
    for n in $nested; do
      sed -i "\#^replace $mod/$n #d; \#^[[:space:]]*$mod/$n v#d" "$work/go.mod"
      case "$n" in
        internal/backend/remote-state/*)
          init="$work/internal/backend/init/init.go"
          alias="$(sed -n "s#^[[:space:]]*\([A-Za-z0-9_]*\) \"$mod/$n\"\$#\1#p" "$init")"
          [ -n "$alias" ] || { log "terraform $TERRAFORM_VERSION: no import of $n in $init"; exit 1; }
          sed -i "\#\"$mod/$n\"#d; /return $alias\.New()/d" "$init" ;;
      esac
    done
    mkdir -p "$tf_dir"
    (cd "$work" && CGO_ENABLED=0 GOFLAGS=-mod=mod go build -trimpath -o "$tf_dir/terraform.part" .) >&2
    mv "$tf_dir/terraform.part" "$tf_dir/terraform"
    rm -rf "$work"
  fi
  terraform_bin="$tf_dir/terraform"
fi

rc="$cache/terraformrc-$AZURERM_VERSION"
cat >"$rc" <<RC
provider_installation {
  dev_overrides {
    "hashicorp/azurerm" = "$provider_dir"
  }
  direct {}
}
RC

printf 'export TF_CLI_CONFIG_FILE=%q\n' "$rc"
printf 'export VIGIL_TERRAFORM=%q\n' "$terraform_bin"
printf 'export PATH=%q:"$PATH"\n' "$(dirname "$terraform_bin")"
