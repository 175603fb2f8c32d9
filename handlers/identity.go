package handlers

import (
	"encoding/base64"
	"encoding/json"
	"strings"

	"vigil/internal/fault"
)

// SignIn says which sign-in a Server trusts to name a responder.
type SignIn int

const (
	// SignInNone: no platform sign-in is in front of the app, so identity
	// headers could come from anyone; responder routes are refused.
	SignInNone SignIn = iota
	// SignInEasyAuth: App Service Authentication is enabled (the platform
	// sets WEBSITE_AUTH_ENABLED): it validates the Entra ID token, injects
	// X-MS-CLIENT-PRINCIPAL and strips any copy a client sent, and the host
	// builds the request's Identities from it.
	SignInEasyAuth
	// SignInLocal: `vigil local`, on the loopback interface, where a
	// developer names themselves with X-MS-CLIENT-PRINCIPAL-NAME.
	SignInLocal
)

// responder returns the signed-in responder's user name, or a 401.
//
// Only what the configured sign-in vouches for counts. Under Easy Auth the
// host-built identity comes first, then the claims header; the plain name
// header is a client's word and is never read there. Under `vigil local` the
// name header is the stand-in for a sign-in. With no sign-in in front of the
// app nothing is trusted.
func (s *Server) responder(req *HTTPRequest) (string, error) {
	switch s.SignIn {
	case SignInEasyAuth:
		return easyAuthResponder(req)
	case SignInLocal:
		if name, signedIn := userFromIdentities(req.Identities); signedIn {
			return orNoUserName(name)
		}
		if claims := req.Header("X-MS-CLIENT-PRINCIPAL"); strings.TrimSpace(claims) != "" {
			return orNoUserName(principalFromClaims(claims))
		}
		if name := strings.TrimSpace(req.Header("X-MS-CLIENT-PRINCIPAL-NAME")); name != "" {
			return name, nil
		}
		return "", fault.New(fault.Unauthorized, "a responder identity is required: under vigil local, send the header "+
			"X-MS-CLIENT-PRINCIPAL-NAME with the principal (or e-mail) of a person in the catalog")
	default:
		return "", fault.New(fault.Unauthorized, "responder sign-in is off: App Service Authentication is not enabled on this app "+
			"(WEBSITE_AUTH_ENABLED is not true), and without it identity headers could be forged; enable it (the Terraform module does)")
	}
}

func easyAuthResponder(req *HTTPRequest) (string, error) {
	if name, signedIn := userFromIdentities(req.Identities); signedIn {
		return orNoUserName(name)
	}
	if claims := req.Header("X-MS-CLIENT-PRINCIPAL"); strings.TrimSpace(claims) != "" {
		return orNoUserName(principalFromClaims(claims))
	}
	return "", fault.New(fault.Unauthorized, "a responder identity is required: sign in through the app's Entra ID login "+
		"(/.auth/login/aad), or send an access token for the app (az account get-access-token --resource api://<client id>)")
}

// orNoUserName refuses a sign-in that names nobody: never fall back to what
// may be a display name.
func orNoUserName(name string) (string, error) {
	if name != "" {
		return name, nil
	}
	return "", fault.New(fault.Unauthorized, "the sign-in carries no user name (preferred_username, upn or e-mail claim): "+
		"the app registration must issue one of them in its tokens")
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

// platformSignedIn reports whether App Service Authentication validated a
// token on the request (a person's or an application's: a webhook's
// app-only token carries no user name, so this asks whether, not who). A
// function key's identity does not count, and without a platform sign-in in
// front of the app nothing does.
func (s *Server) platformSignedIn(req *HTTPRequest) bool {
	switch s.SignIn {
	case SignInEasyAuth, SignInLocal:
		if _, signedIn := userFromIdentities(req.Identities); signedIn {
			return true
		}
		return strings.TrimSpace(req.Header("X-MS-CLIENT-PRINCIPAL")) != ""
	}
	return false
}

// hostIdentity is the host's serialised ClaimsIdentity.
type hostIdentity struct {
	AuthenticationType string `json:"AuthenticationType"`
	IsAuthenticated    bool   `json:"IsAuthenticated"`
	Claims             []struct {
		Type  string `json:"Type"`
		Value string `json:"Value"`
	} `json:"Claims"`
}

// userFromIdentities reads the host's identities: whether one is a platform
// sign-in (not the identity the host adds for a function key, which proves a
// key, not a person) and its user name from the same claims as the header
// ("" when it carries none). The identity's Name is not read: it follows the
// sign-in's name claim type, which may be the display name.
func userFromIdentities(ids []json.RawMessage) (name string, signedIn bool) {
	for _, raw := range ids {
		var id hostIdentity
		if json.Unmarshal(raw, &id) != nil || !id.IsAuthenticated || strings.EqualFold(id.AuthenticationType, "WebJobsAuthLevel") {
			continue
		}
		for _, want := range userNameClaims {
			for _, c := range id.Claims {
				if c.Type == want && strings.TrimSpace(c.Value) != "" {
					return strings.TrimSpace(c.Value), true
				}
			}
		}
		signedIn = true
	}
	return "", signedIn
}
