package handlers

import (
	"encoding/base64"
	"encoding/json"
	"strings"

	"vigil/internal/fault"
)

// responder returns the signed-in responder's principal name, or a 401.
//
// In Azure, App Service Authentication (Easy Auth) signs the user in with Entra ID
// and injects X-MS-CLIENT-PRINCIPAL (base64 JSON claims) and X-MS-CLIENT-PRINCIPAL-NAME;
// it strips those headers from anything a client sends itself, so they can be trusted
// only where Easy Auth is enabled — the Terraform module always enables it. The
// host also passes the authenticated identities in the request binding. Under
// `vigil local` there is no platform login: the caller sends X-MS-CLIENT-PRINCIPAL-NAME
// itself, which is for local use only.
func (s *Server) responder(req *HTTPRequest) (string, error) {
	if claims := req.Header("X-MS-CLIENT-PRINCIPAL"); strings.TrimSpace(claims) != "" {
		// Signed in through Easy Auth: the user name is in the claims, or the
		// sign-in carries none. Never fall back to what may be a display name.
		if name := principalFromClaims(claims); name != "" {
			return name, nil
		}
		return "", fault.New(fault.Unauthorized, "the sign-in carries no user name (preferred_username, upn or e-mail claim): "+
			"the app registration must issue one of them in its tokens")
	}
	if name := strings.TrimSpace(req.Header("X-MS-CLIENT-PRINCIPAL-NAME")); name != "" {
		return name, nil
	}
	if name := principalFromIdentities(req.Identities); name != "" {
		return name, nil
	}
	return "", fault.New(fault.Unauthorized, "a responder identity is required: %s", s.signInHow())
}

// signInHow says how a responder identifies: through Easy Auth in Azure; under
// `vigil local` (which alone serves the developer pages) by naming oneself.
func (s *Server) signInHow() string {
	if s.Dev != nil {
		return "under vigil local, send the header X-MS-CLIENT-PRINCIPAL-NAME with the principal (or e-mail) of a person in the catalog"
	}
	return "sign in through the app's Entra ID login"
}

type clientPrincipal struct {
	Claims []struct {
		Type  string `json:"typ"`
		Value string `json:"val"`
	} `json:"claims"`
}

func principalFromClaims(header string) string {
	if header == "" {
		return ""
	}
	raw, err := base64.StdEncoding.DecodeString(header)
	if err != nil {
		return ""
	}
	var p clientPrincipal
	if json.Unmarshal(raw, &p) != nil {
		return ""
	}
	for _, want := range userNameClaims {
		for _, c := range p.Claims {
			if c.Type == want && c.Value != "" {
				return c.Value
			}
		}
	}
	return ""
}

// userNameClaims are the claims that name a user (a UPN or an e-mail
// address), short as Entra ID issues them in v2.0 tokens and as the long URIs
// Easy Auth passes for v1.0 ones, most specific first. Not "name" or its
// URI, which hold the display name (any colleague may share it), nor
// name_typ, which Easy Auth may point at either.
var userNameClaims = []string{
	"preferred_username",
	"upn",
	"http://schemas.xmlsoap.org/ws/2005/05/identity/claims/upn",
	"email",
	"http://schemas.xmlsoap.org/ws/2005/05/identity/claims/emailaddress",
}

// platformSignedIn reports whether App Service Authentication validated a token
// on the request: it then injects X-MS-CLIENT-PRINCIPAL (and strips any copy a
// client sent), and the host passes the identity. A function key's identity
// does not count. App-only tokens (a webhook's) carry no user name, so this
// asks only whether someone signed in, not who.
func platformSignedIn(req *HTTPRequest) bool {
	if strings.TrimSpace(req.Header("X-MS-CLIENT-PRINCIPAL")) != "" {
		return true
	}
	for _, raw := range req.Identities {
		var id struct {
			AuthenticationType string `json:"AuthenticationType"`
			IsAuthenticated    bool   `json:"IsAuthenticated"`
		}
		if json.Unmarshal(raw, &id) == nil && id.IsAuthenticated && !strings.EqualFold(id.AuthenticationType, "WebJobsAuthLevel") {
			return true
		}
	}
	return false
}

// principalFromIdentities reads the host's serialised ClaimsIdentity list, skipping the
// identity the host adds for a function key (it proves a key, not a person).
func principalFromIdentities(ids []json.RawMessage) string {
	for _, raw := range ids {
		var id struct {
			AuthenticationType string `json:"AuthenticationType"`
			IsAuthenticated    bool   `json:"IsAuthenticated"`
			Name               string `json:"Name"`
		}
		if json.Unmarshal(raw, &id) != nil || !id.IsAuthenticated || id.Name == "" {
			continue
		}
		if strings.EqualFold(id.AuthenticationType, "WebJobsAuthLevel") {
			continue
		}
		return id.Name
	}
	return ""
}
