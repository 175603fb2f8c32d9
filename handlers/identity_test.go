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
			s := &Server{SignIn: SignInEasyAuth}
			got, err := s.responder(&HTTPRequest{Headers: map[string][]string{"X-Ms-Client-Principal": {tc.header}, "X-Ms-Client-Principal-Name": {"Ana García"}}})
			require.NoError(t, err)
			require.Equal(t, tc.want, got)
		})
	}

	// A sign-in with only a display name is refused, not taken for a user
	// name from the claims, the name header or the host's identity.
	s := &Server{SignIn: SignInEasyAuth}
	_, err := s.responder(&HTTPRequest{Headers: map[string][]string{
		"X-Ms-Client-Principal":      {principalHeader(t, nameURI, [2]string{"name", "Ana García"}, [2]string{nameURI, "Ana García"})},
		"X-Ms-Client-Principal-Name": {"Ana García"},
	}})
	require.True(t, fault.Is(err, fault.Unauthorized), "%v", err)
	require.ErrorContains(t, err, "no user name")
}

// hostIdentities is the request binding's Identities as the host builds
// them: the function key's identity, then the Easy Auth sign-in's.
func hostIdentities(t *testing.T, nameClaimType string, claims ...[2]string) []json.RawMessage {
	t.Helper()
	var cs []map[string]any
	for _, c := range claims {
		cs = append(cs, map[string]any{"Issuer": "LOCAL AUTHORITY", "OriginalIssuer": "LOCAL AUTHORITY", "Properties": map[string]any{},
			"Subject": nil, "Type": c[0], "Value": c[1], "ValueType": "http://www.w3.org/2001/XMLSchema#string"})
	}
	key, err := json.Marshal(map[string]any{"AuthenticationType": "WebJobsAuthLevel", "IsAuthenticated": true, "Name": nil,
		"Claims": []any{map[string]any{"Type": "http://schemas.microsoft.com/2017/07/functions/claims/authlevel", "Value": "Function"}}})
	require.NoError(t, err)
	user, err := json.Marshal(map[string]any{"AuthenticationType": "aad", "IsAuthenticated": true, "Claims": cs,
		"Name": "Ana García", "NameClaimType": nameClaimType, "RoleClaimType": "roles"})
	require.NoError(t, err)
	return []json.RawMessage{key, user}
}

// Each sign-in trusts only what vouches for a person in it.
func TestWhatEachSignInTrusts(t *testing.T) {
	const nameURI = "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/name"
	claims := principalHeader(t, "preferred_username", [2]string{"preferred_username", "ana@fabrikam.example"})
	nameHeader := map[string][]string{"X-Ms-Client-Principal-Name": {"ana@fabrikam.example"}}
	identities := hostIdentities(t, nameURI, [2]string{nameURI, "Ana García"}, [2]string{"preferred_username", "ana@fabrikam.example"})
	keyOnly := hostIdentities(t, nameURI)[:1]

	type want struct {
		name string // "" for a 401
		why  string
	}
	for _, tc := range []struct {
		case_  string
		signIn SignIn
		req    *HTTPRequest
		want   want
	}{
		// No platform sign-in in front of the app: every identity header
		// could be a client's own, so none is read.
		{"no sign-in: claims header", SignInNone, &HTTPRequest{Headers: map[string][]string{"X-Ms-Client-Principal": {claims}}}, want{"", "not enabled"}},
		{"no sign-in: name header", SignInNone, &HTTPRequest{Headers: nameHeader}, want{"", "not enabled"}},
		{"no sign-in: identities", SignInNone, &HTTPRequest{Identities: identities}, want{"", "not enabled"}},

		// Easy Auth: the host-built identity first, then the claims header;
		// never the plain name header, which Easy Auth does not vouch for.
		{"Easy Auth: identities", SignInEasyAuth, &HTTPRequest{Identities: identities}, want{"ana@fabrikam.example", ""}},
		{"Easy Auth: identities before the header", SignInEasyAuth, &HTTPRequest{Identities: identities,
			Headers: map[string][]string{"X-Ms-Client-Principal": {principalHeader(t, "", [2]string{"preferred_username", "mallory@fabrikam.example"})}}},
			want{"ana@fabrikam.example", ""}},
		{"Easy Auth: claims header", SignInEasyAuth, &HTTPRequest{Headers: map[string][]string{"X-Ms-Client-Principal": {claims}}, Identities: keyOnly}, want{"ana@fabrikam.example", ""}},
		{"Easy Auth: name header alone", SignInEasyAuth, &HTTPRequest{Headers: nameHeader}, want{"", "Entra ID login"}},
		{"Easy Auth: a function key", SignInEasyAuth, &HTTPRequest{Identities: keyOnly, Headers: nameHeader}, want{"", "Entra ID login"}},
		{"Easy Auth: identity with a display name only", SignInEasyAuth, &HTTPRequest{Identities: hostIdentities(t, nameURI, [2]string{nameURI, "Ana García"}), Headers: nameHeader}, want{"", "no user name"}},

		// vigil local: the name header is the stand-in for a sign-in.
		{"local: name header", SignInLocal, &HTTPRequest{Headers: nameHeader}, want{"ana@fabrikam.example", ""}},
		{"local: nothing", SignInLocal, &HTTPRequest{}, want{"", "X-MS-CLIENT-PRINCIPAL-NAME"}},
	} {
		t.Run(tc.case_, func(t *testing.T) {
			got, err := (&Server{SignIn: tc.signIn}).responder(tc.req)
			if tc.want.name != "" {
				require.NoError(t, err)
				require.Equal(t, tc.want.name, got)
				return
			}
			require.True(t, fault.Is(err, fault.Unauthorized), "%v", err)
			require.ErrorContains(t, err, tc.want.why)
		})
	}
}

// The secure webhook's check (an app-only token validated by Easy Auth) counts
// only where a platform sign-in is in front of the app, and never a function key.
func TestPlatformSignedIn(t *testing.T) {
	appOnly := hostIdentities(t, "", [2]string{"appid", "461e8683-5575-4561-ac7f-899cc907d62a"})
	require.True(t, (&Server{SignIn: SignInEasyAuth}).platformSignedIn(&HTTPRequest{Identities: appOnly}))
	require.False(t, (&Server{SignIn: SignInEasyAuth}).platformSignedIn(&HTTPRequest{Identities: appOnly[:1]}), "a function key")
	require.False(t, (&Server{SignIn: SignInNone}).platformSignedIn(&HTTPRequest{Identities: appOnly}), "no sign-in in front of the app")
	require.False(t, (&Server{SignIn: SignInNone}).platformSignedIn(&HTTPRequest{Headers: map[string][]string{"X-Ms-Client-Principal": {"e30="}}}))
}
