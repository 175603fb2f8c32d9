package servicebus

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"
	"github.com/Azure/azure-sdk-for-go/sdk/messaging/azservicebus"
	"github.com/Azure/go-amqp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"vigil/internal/fault"
)

// azservicebus.Error's Code field is exported (its wrapped cause is not), so
// the SDK's classified errors can be built directly. The SDK passes some fatal
// AMQP conditions back unwrapped, as *amqp.Error or inside *amqp.LinkError;
// those are built from go-amqp's exported types.
func TestClassify(t *testing.T) {
	for _, tc := range []struct {
		name string
		err  error
		want fault.Kind
	}{
		{"connection lost", &azservicebus.Error{Code: azservicebus.CodeConnectionLost}, fault.Transient},
		{"timeout", &azservicebus.Error{Code: azservicebus.CodeTimeout}, fault.Transient},
		{"lock lost", &azservicebus.Error{Code: azservicebus.CodeLockLost}, fault.Transient},
		{"closed", &azservicebus.Error{Code: azservicebus.CodeClosed}, fault.Transient},
		{"a code added later", &azservicebus.Error{Code: "somethingnew"}, fault.Transient},
		{"not found", &azservicebus.Error{Code: azservicebus.CodeNotFound}, fault.NotFound},
		{"unauthorized", &azservicebus.Error{Code: azservicebus.CodeUnauthorizedAccess}, fault.Permanent},
		{"wrapped sdk error", fmt.Errorf("outer: %w", &azservicebus.Error{Code: azservicebus.CodeNotFound}), fault.NotFound},
		{"amqp not found", &amqp.Error{Condition: amqp.ErrCondNotFound, Description: "The messaging entity could not be found"}, fault.NotFound},
		{"amqp not found on the link", &amqp.LinkError{RemoteErr: &amqp.Error{Condition: amqp.ErrCondNotFound}}, fault.NotFound},
		{"amqp unauthorized", &amqp.Error{Condition: amqp.ErrCondUnauthorizedAccess}, fault.Permanent},
		{"amqp message too large", &amqp.Error{Condition: amqp.ErrCondMessageSizeExceeded}, fault.TooLarge},
		{"sdk message too large", azservicebus.ErrMessageTooLarge, fault.TooLarge},
		{"entity full", &amqp.Error{Condition: amqp.ErrCondResourceLimitExceeded}, fault.Transient},
		{"entity disabled", &amqp.Error{Condition: "com.microsoft:entity-disabled"}, fault.Transient},
		{"server busy", &amqp.Error{Condition: "com.microsoft:server-busy"}, fault.Transient},
		{"other amqp condition", &amqp.Error{Condition: amqp.ErrCondInternalError}, fault.Transient},
		{"link detached", &amqp.LinkError{}, fault.Transient},
		{"context cancelled", context.Canceled, fault.Transient},
		{"deadline exceeded", fmt.Errorf("sending: %w", context.DeadlineExceeded), fault.Transient},
		{"no token", &azidentity.AuthenticationFailedError{}, fault.Transient},
		{"unknown", errors.New("EOF-ish surprise"), fault.Transient},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := classify(t.Context(), tc.err, "send", "intake")
			require.Error(t, err)
			assert.Equal(t, tc.want, fault.KindOf(err), "%v", err)
			assert.True(t, errors.Is(err, tc.err), "the cause stays in the chain")
		})
	}
}

func TestClassifyNil(t *testing.T) {
	assert.NoError(t, classify(t.Context(), nil, "send", "intake"))
}

func TestClassifyKeepsFaults(t *testing.T) {
	in := fault.InvalidField("messages[0].id", "is required")
	assert.Same(t, in, classify(t.Context(), in, "send", "intake"))
}

func TestClassifyNotFoundNamesTheEntity(t *testing.T) {
	err := classify(t.Context(), &azservicebus.Error{Code: azservicebus.CodeNotFound}, "send", "notify")
	assert.Contains(t, err.Error(), `"notify" does not exist`)
}

func TestClassifyUnauthorizedNamesTheRole(t *testing.T) {
	err := classify(t.Context(), &azservicebus.Error{Code: azservicebus.CodeUnauthorizedAccess}, "send", "intake")
	assert.True(t, fault.Is(err, fault.Permanent))
	assert.False(t, fault.Retryable(err))
	assert.Contains(t, err.Error(), `"Azure Service Bus Data Sender"`)
	assert.Contains(t, err.Error(), `"intake"`)
}

func TestClassifyAfterTheCallersContextEnded(t *testing.T) {
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	// go-amqp can report cancellation as bare text, with no context error in the chain.
	err := classify(ctx, errors.New("context canceled"), "send", "intake")
	assert.True(t, fault.Is(err, fault.Transient))
	assert.Contains(t, err.Error(), "interrupted")
}

func TestNothingToCancel(t *testing.T) {
	for _, tc := range []struct {
		err  error
		want bool
	}{
		{&azservicebus.Error{Code: azservicebus.CodeNotFound}, true},
		{errors.New("rpc: failed, status code 404 and description: Messages not found. Missing sequence numbers: 7"), true},
		{errors.New("(connlost): rpc: failed, status code 400 and description: The scheduled message with SequenceNumber = 7 is already being cancelled."), true},
		{errors.New("server says (404) MessageNotFound"), true},
		{&azservicebus.Error{Code: azservicebus.CodeConnectionLost}, false},
		{&azservicebus.Error{Code: azservicebus.CodeUnauthorizedAccess}, false},
		{errors.New("rpc: failed, status code 500 and description: already on fire"), false},
		{errors.New("link with name 'x' already exists"), false}, // local, not a service answer
		{context.DeadlineExceeded, false},
	} {
		assert.Equal(t, tc.want, nothingToCancel(tc.err), "%v", tc.err)
	}
}

const fakeKey = "c2VjcmV0LWtleS1kby1ub3QtbGVhaw=="

var fakeConnectionString = "Endpoint=sb://example.servicebus.windows.net/;SharedAccessKeyName=RootManageSharedAccessKey;SharedAccessKey=" + fakeKey

func TestRedact(t *testing.T) {
	got := redact("failed with "+fakeConnectionString, fakeConnectionString)
	assert.NotContains(t, got, fakeKey)
	got = redact("odd: SharedAccessKey="+fakeKey+";EntityPath=x", "")
	assert.NotContains(t, got, fakeKey)
	assert.Contains(t, got, "EntityPath=x")
	got = redact("SharedAccessSignature=SharedAccessSignature sr=x&sig="+fakeKey, "")
	assert.NotContains(t, got, fakeKey)
}

func TestNormalizeNamespace(t *testing.T) {
	for in, want := range map[string]string{
		"vigil.servicebus.windows.net":          "vigil.servicebus.windows.net",
		" vigil.servicebus.windows.net ":        "vigil.servicebus.windows.net",
		"sb://vigil.servicebus.windows.net/":    "vigil.servicebus.windows.net",
		"https://vigil.servicebus.windows.net":  "vigil.servicebus.windows.net",
		"SB://vigil.servicebus.windows.net":     "vigil.servicebus.windows.net",
		"amqps://vigil.servicebus.windows.net/": "vigil.servicebus.windows.net",
	} {
		got, err := normalizeNamespace(in)
		require.NoError(t, err, in)
		assert.Equal(t, want, got, in)
	}
	for _, bad := range []string{"", "  ", fakeConnectionString, "vigil.servicebus.windows.net/intake", "a b"} {
		_, err := normalizeNamespace(bad)
		require.Error(t, err, bad)
		assert.True(t, fault.Is(err, fault.Invalid), bad)
		assert.Equal(t, SettingNamespace, fault.FieldOf(err))
		assert.NotContains(t, err.Error(), fakeKey)
	}
}

func TestFromSettingsUnset(t *testing.T) {
	c, ok, err := FromSettings(func(string) string { return "" })
	assert.Nil(t, c)
	assert.False(t, ok)
	assert.NoError(t, err)
}

func TestFromSettingsRefusesAConnectionString(t *testing.T) {
	env := map[string]string{SettingNamespace: fakeConnectionString, SettingClientID: "00000000-0000-0000-0000-000000000001"}
	c, ok, err := FromSettings(func(k string) string { return env[k] })
	assert.Nil(t, c)
	assert.True(t, ok)
	require.Error(t, err)
	assert.NotContains(t, err.Error(), fakeKey)
	assert.Contains(t, err.Error(), SettingNamespace)
}

func TestFromSettingsWithAUserAssignedIdentity(t *testing.T) {
	// Building the client does no I/O: the credential is asked for a token
	// only when the first link opens.
	env := map[string]string{SettingNamespace: "vigil.servicebus.windows.net", SettingClientID: "00000000-0000-0000-0000-000000000001"}
	c, ok, err := FromSettings(func(k string) string { return env[k] })
	require.NoError(t, err)
	require.True(t, ok)
	require.NotNil(t, c)
	assert.NoError(t, c.Close(t.Context()))
}

func TestNewRequiresACredential(t *testing.T) {
	_, err := New("vigil.servicebus.windows.net", nil)
	assert.True(t, fault.Is(err, fault.Invalid))
}

func TestNewFromConnectionStringDoesNotRepeatIt(t *testing.T) {
	// A key with no name is refused by the SDK's parser.
	bad := "Endpoint=sb://example.servicebus.windows.net/;SharedAccessKey=" + fakeKey
	_, err := NewFromConnectionString(bad)
	require.Error(t, err)
	assert.True(t, fault.Is(err, fault.Invalid))
	assert.NotContains(t, err.Error(), fakeKey)
	assert.False(t, strings.Contains(err.Error(), bad))

	_, err = NewFromConnectionString("")
	assert.True(t, fault.Is(err, fault.Invalid))
}
