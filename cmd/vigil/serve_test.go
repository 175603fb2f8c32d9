package main

import (
	"testing"

	"github.com/stretchr/testify/require"
)

func TestUnresolvedKeyVaultReferencesAreNamed(t *testing.T) {
	env := []string{
		"VIGIL_SIGNING_KEY=@Microsoft.KeyVault(SecretUri=https://kv-vigil.vault.azure.net/secrets/vigil-signing-key)",
		"TEAMS_SRE_WEBHOOK=https://example.webhook.office.com/x",
		"STATUSPAGE_API_KEY= @Microsoft.KeyVault(VaultName=kv-vigil;SecretName=statuspage-api-key)",
		"PATH=/usr/bin",
	}
	require.Equal(t, []string{"STATUSPAGE_API_KEY", "VIGIL_SIGNING_KEY"}, unresolvedKeyVaultRefs(env))
	require.Empty(t, unresolvedKeyVaultRefs([]string{"VIGIL_SIGNING_KEY=c2VjcmV0"}))
}
