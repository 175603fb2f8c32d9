package handlers

import (
	"encoding/base64"
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/require"

	"vigil/internal/fault"
)

func principalHeader(t *testing.T, nameType string, claims ...[2]string) string {
	t.Helper()
	var cs []map[string]string
	for _, c := range claims {
		cs = append(cs, map[string]string{"typ": c[0], "val": c[1]})
	}
	b, err := json.Marshal(map[string]any{"auth_typ": "aad", "name_typ": nameType, "role_typ": "roles", "claims": cs})
	require.NoError(t, err)
	return base64.StdEncoding.EncodeToString(b)
}

// The user name comes from the claims Entra ID issues, short (v2.0 tokens) or
// as the long URIs Easy Auth passes (v1.0), never from the display name.
func TestResponderNameFromEasyAuthClaims(t *testing.T) {
	const (
		upnURI   = "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/upn"
		emailURI = "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/emailaddress"
		nameURI  = "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/name"
	)
	for _, tc := range []struct {
		name   string
		header string
		want   string
	}{
		{"v2.0 token", principalHeader(t, emailURI, [2]string{"name", "Ana García"}, [2]string{"preferred_username", "ana@fabrikam.example"}), "ana@fabrikam.example"},
		{"v1.0 token, long URIs", principalHeader(t, nameURI, [2]string{nameURI, "Ana García"}, [2]string{upnURI, "ana@fabrikam.example"}), "ana@fabrikam.example"},
		{"e-mail only, long URI", principalHeader(t, emailURI, [2]string{"name", "Ana García"}, [2]string{emailURI, "ana@fabrikam.example"}), "ana@fabrikam.example"},
		{"upn before e-mail", principalHeader(t, "", [2]string{"email", "ana@gmail.example"}, [2]string{"upn", "ana@fabrikam.example"}), "ana@fabrikam.example"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := &Server{}
			got, err := s.responder(&HTTPRequest{Headers: map[string][]string{"X-Ms-Client-Principal": {tc.header}, "X-Ms-Client-Principal-Name": {"Ana García"}}})
			require.NoError(t, err)
			require.Equal(t, tc.want, got)
		})
	}

	// A sign-in with only a display name is refused, not taken for a user
	// name from the claims, the name header or the host's identity.
	s := &Server{}
	_, err := s.responder(&HTTPRequest{Headers: map[string][]string{
		"X-Ms-Client-Principal":      {principalHeader(t, nameURI, [2]string{"name", "Ana García"}, [2]string{nameURI, "Ana García"})},
		"X-Ms-Client-Principal-Name": {"Ana García"},
	}})
	require.True(t, fault.Is(err, fault.Unauthorized), "%v", err)
	require.ErrorContains(t, err, "no user name")
}
