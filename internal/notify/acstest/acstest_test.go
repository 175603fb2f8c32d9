package acstest

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const token = "tok-4f6a8c0e2a4c6e8a0c2e"

const opID = "6f1c2a4e-9d3b-5e7a-8c21-4b0f3d9e7a15"

const mail = `{"senderAddress":"DoNotReply@vigil.example.com","content":{"subject":"[SEV1] Down","plainText":"x"},"recipients":{"to":[{"address":"ada@example.com"}]}}`

type answer struct {
	status int
	header http.Header
	body   map[string]any
}

func do(t *testing.T, s *Server, method, path, body string, headers ...string) answer {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, s.URL()+path, rd)
	require.NoError(t, err)
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Content-Type", "application/json")
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	var out map[string]any
	raw, _ := io.ReadAll(resp.Body)
	_ = json.Unmarshal(raw, &out)
	return answer{resp.StatusCode, resp.Header, out}
}

func code(a answer) string {
	e, _ := a.body["error"].(map[string]any)
	c, _ := e["code"].(string)
	return c
}

func TestEmailRefusals(t *testing.T) {
	for _, tc := range []struct {
		name, path, body string
		headers          []string
		status           int
		code             string
	}{
		{"no api-version", "/emails:send", mail, nil, 400, "MissingApiVersionParameter"},
		{"unpublished api-version", "/emails:send?api-version=2023-03-30", mail, nil, 400, "UnsupportedApiVersion"},
		{"repeatability header", "/emails:send?api-version=2023-03-31", mail, []string{"Repeatability-Request-Id", opID}, 501, "NotImplemented"},
		{"operation id not a UUID", "/emails:send?api-version=2023-03-31", mail, []string{"Operation-Id", "ntf:1"}, 400, "InvalidHeader"},
		{"no sender", "/emails:send?api-version=2023-03-31", strings.Replace(mail, `"senderAddress":"DoNotReply@vigil.example.com",`, "", 1), nil, 400, "BadRequest"},
		{"no subject", "/emails:send?api-version=2023-03-31", strings.Replace(mail, `"subject":"[SEV1] Down",`, "", 1), nil, 400, "BadRequest"},
		{"no recipient", "/emails:send?api-version=2023-03-31", strings.Replace(mail, `{"address":"ada@example.com"}`, "", 1), nil, 400, "BadRequest"},
		{"empty address", "/emails:send?api-version=2023-03-31", strings.Replace(mail, `ada@example.com`, "", 1), nil, 400, "BadRequest"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := New(t, token)
			s.ExpectRefusals()
			a := do(t, s, "POST", tc.path, tc.body, tc.headers...)
			assert.Equal(t, tc.status, a.status)
			assert.Equal(t, tc.code, code(a))
			assert.Equal(t, tc.code, a.header.Get("x-ms-error-code"))
			assert.Empty(t, s.Emails())
			assert.Len(t, s.Refusals(), 1)
		})
	}
	s := New(t, token)
	s.ExpectRefusals()
	req, _ := http.NewRequest("POST", s.URL()+"/emails:send?api-version=2023-03-31", strings.NewReader(mail))
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, http.StatusUnauthorized, resp.StatusCode, "no bearer token")
}

func TestEmailOperationRunsThenEnds(t *testing.T) {
	s := New(t, token)
	a := do(t, s, "POST", "/emails:send?api-version=2023-03-31", mail, "Operation-Id", opID)
	require.Equal(t, http.StatusAccepted, a.status)
	assert.Equal(t, map[string]any{"id": opID, "status": "Running"}, a.body)
	assert.Equal(t, s.URL()+"/emails/operations/"+opID+"?api-version=2023-03-31", a.header.Get("Operation-Location"))
	assert.Equal(t, RetryAfter, a.header.Get("Retry-After"))

	// The same id and message: the same operation, no second e-mail.
	again := do(t, s, "POST", "/emails:send?api-version=2023-03-31", mail, "Operation-Id", opID)
	assert.Equal(t, http.StatusAccepted, again.status)
	assert.Len(t, s.Emails(), 1)

	st := do(t, s, "GET", "/emails/operations/"+opID+"?api-version=2023-03-31", "")
	assert.Equal(t, "Running", st.body["status"], "one poll running by default")
	assert.Equal(t, RetryAfter, st.header.Get("Retry-After"))
	st = do(t, s, "GET", "/emails/operations/"+opID+"?api-version=2023-03-31", "")
	assert.Equal(t, map[string]any{"id": opID, "status": "Succeeded"}, st.body)
	assert.Empty(t, st.header.Get("Retry-After"), "only while running")

	// The same id with another message is refused.
	s.ExpectRefusals()
	other := do(t, s, "POST", "/emails:send?api-version=2023-03-31", strings.Replace(mail, "Down", "Up", 1), "Operation-Id", opID)
	assert.Equal(t, http.StatusBadRequest, other.status)

	missing := do(t, s, "GET", "/emails/operations/00000000-0000-4000-8000-000000000000?api-version=2023-03-31", "")
	assert.Equal(t, http.StatusNotFound, missing.status)
}

func TestEmailOperationFails(t *testing.T) {
	s := New(t, token)
	s.EmailOutcome("ADA@example.com", Outcome{Polls: 0, Status: Failed, Code: "EmailDropped", Message: "Email was dropped."})
	a := do(t, s, "POST", "/emails:send?api-version=2023-03-31", mail)
	require.Equal(t, http.StatusAccepted, a.status)
	id := a.body["id"].(string)
	st := do(t, s, "GET", "/emails/operations/"+id+"?api-version=2023-03-31", "")
	assert.Equal(t, map[string]any{"id": id, "status": "Failed", "error": map[string]any{"code": "EmailDropped", "message": "Email was dropped."}}, st.body)
}

func sms(to string, extra string) string {
	return `{"from":"+18005550100","smsRecipients":[{"to":"` + to + `"` + extra + `}],"message":"hi","smsSendOptions":{"enableDeliveryReport":true}}`
}

func TestSMSRequestRefusals(t *testing.T) {
	hundredAndOne := `{"from":"+18005550100","message":"hi","smsRecipients":[` + strings.TrimSuffix(strings.Repeat(`{"to":"+14255550123"},`, 101), ",") + `]}`
	for _, tc := range []struct {
		name, body string
	}{
		{"no from", `{"smsRecipients":[{"to":"+14255550123"}],"message":"hi"}`},
		{"no recipients", `{"from":"+18005550100","smsRecipients":[],"message":"hi"}`},
		{"101 recipients", hundredAndOne},
		{"message over 2,048", `{"from":"+18005550100","smsRecipients":[{"to":"+14255550123"}],"message":"` + strings.Repeat("é", 2049) + `"}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := New(t, token)
			s.ExpectRefusals()
			a := do(t, s, "POST", "/sms?api-version=2021-03-07", tc.body)
			assert.Equal(t, http.StatusBadRequest, a.status)
			assert.Equal(t, "BadRequest", code(a))
			assert.Empty(t, s.Texts())
		})
	}
	s := New(t, token)
	s.ExpectRefusals()
	assert.Equal(t, http.StatusBadRequest, do(t, s, "POST", "/sms?api-version=2023-03-31", sms("+14255550123", "")).status, "an e-mail version")
}

func TestSMSRecipientRejections(t *testing.T) {
	for _, tc := range []struct {
		name, to, extra, says string
	}{
		{"not E.164", "4255550123", "", "Invalid To phone number format."},
		{"request id not a UUID", "+14255550123", `,"repeatabilityRequestId":"ntf:1","repeatabilityFirstSent":"Sat, 14 Mar 2026 09:26:53 GMT"`, "repeatability-request-id"},
		{"first sent not RFC 1123", "+14255550123", `,"repeatabilityRequestId":"` + opID + `","repeatabilityFirstSent":"2026-03-14T09:26:53Z"`, "RFC1123"},
		{"first sent not a date", "+14255550123", `,"repeatabilityRequestId":"` + opID + `","repeatabilityFirstSent":"yesterday GMT"`, "RFC1123"},
		{"request id alone", "+14255550123", `,"repeatabilityRequestId":"` + opID + `"`, "RFC1123"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := New(t, token)
			s.ExpectRefusals()
			a := do(t, s, "POST", "/sms?api-version=2021-03-07", sms(tc.to, tc.extra))
			require.Equal(t, http.StatusAccepted, a.status, "a recipient is refused in its own result")
			res := a.body["value"].([]any)[0].(map[string]any)
			assert.Equal(t, false, res["successful"])
			assert.Equal(t, float64(400), res["httpStatusCode"])
			assert.Contains(t, res["errorMessage"], tc.says)
			if tc.extra != "" {
				assert.Equal(t, "rejected", res["repeatabilityResult"])
			}
			assert.Empty(t, s.Texts())
		})
	}
}

func TestSMSReplaysARepeatedRequest(t *testing.T) {
	s := New(t, token)
	body := sms("+14255550123", `,"repeatabilityRequestId":"`+opID+`","repeatabilityFirstSent":"Sat, 14 Mar 2026 09:26:53 GMT"`)
	first := do(t, s, "POST", "/sms?api-version=2021-03-07", body)
	again := do(t, s, "POST", "/sms?api-version=2021-03-07", body)
	assert.Equal(t, first.body, again.body, "the first result, again")
	res := first.body["value"].([]any)[0].(map[string]any)
	assert.Equal(t, "accepted", res["repeatabilityResult"])
	assert.Equal(t, true, res["successful"])
	assert.Len(t, s.Texts(), 1)

	plain := do(t, s, "POST", "/sms?api-version=2021-03-07", sms("+14255550123", ""))
	assert.Equal(t, http.StatusAccepted, plain.status)
	assert.Len(t, s.Texts(), 2, "without an id, a repeat is sent again")
}
