package main

import (
	"testing"

	"github.com/stretchr/testify/require"

	"vigil/handlers"
)

// The name header is trusted under vigil local only; in App Service, Easy
// Auth only while the platform says it is on; otherwise nothing.
func TestSignInFromEnv(t *testing.T) {
	for _, tc := range []struct {
		name string
		env  map[string]string
		want handlers.SignIn
	}{
		{"vigil local", map[string]string{envBusURL: "http://127.0.0.1:1234", envDev: "1"}, handlers.SignInLocal},
		{"vigil local --expose", map[string]string{envBusURL: "http://127.0.0.1:1234", envDev: ""}, handlers.SignInNone},
		{"dev setting in App Service", map[string]string{envBusURL: "http://10.0.0.4:1234", envDev: "1", envSiteName: "vigil-prod-func"}, handlers.SignInNone},
		{"App Service with authentication", map[string]string{envSiteName: "vigil-prod-func", envAuthEnabled: "True"}, handlers.SignInEasyAuth},
		{"App Service without authentication", map[string]string{envSiteName: "vigil-prod-func", envAuthEnabled: "False"}, handlers.SignInNone},
		{"App Service, setting absent", map[string]string{envSiteName: "vigil-prod-func"}, handlers.SignInNone},
		{"dev alone, without the embedded queue", map[string]string{envDev: "1"}, handlers.SignInNone},
	} {
		t.Run(tc.name, func(t *testing.T) {
			require.Equal(t, tc.want, signInFromEnv(func(k string) string { return tc.env[k] }))
		})
	}
}
