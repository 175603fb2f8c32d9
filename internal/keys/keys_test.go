package keys_test

import (
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"vigil/internal/bus"
	"vigil/internal/keys"
)

// Ids derived from message keys must not change between releases: a message
// redelivered across an upgrade must find what its first attempt made, not
// open a second incident. These values are pinned for that reason.
func TestDerivedIdsAreStableAcrossReleases(t *testing.T) {
	require.Equal(t, "INC-86BJ4NCHMAJR", keys.ID("INC-", "alert:x:1"))
	require.Equal(t, "b6s73bgvqjrx67a1jac1fx5hdyt3kttf", keys.Hash("a", "b"))
	require.Equal(t, "ntf:b4661e0c246f083f81e2afd7d8a647d5d3c0d97c", keys.Notification("page", "INC-1", "1", "1", "pat", "email"))
	require.Equal(t, "dk-f5489cfe477b5ba5eec175693977f5f0", keys.DedupLock("azure-monitor/rule/x?y#z"))
}

var crockford = regexp.MustCompile(`^[0-9ABCDEFGHJKMNPQRSTVWXYZ]{12}$`)

func TestIdShapes(t *testing.T) {
	id := keys.ID("CS-", "case", "t1")
	require.Regexp(t, `^CS-`, id)
	require.Regexp(t, crockford, id[3:], "Crockford base32: read aloud, typed from a phone")
	require.Equal(t, id, keys.ID("CS-", "case", "t1"), "a pure function")

	r1, r2 := keys.Random("CS-"), keys.Random("CS-")
	require.NotEqual(t, r1, r2)
	require.Regexp(t, crockford, r1[3:])

	require.Regexp(t, `^[0-9a-z]{32}$`, keys.Hash("x"))
	require.Regexp(t, `^ntf:[0-9a-f]{40}$`, keys.Notification("x"))
	lock := keys.DedupLock("a/b\\c?d#e")
	require.Regexp(t, `^dk-[0-9a-f]{32}$`, lock, "no character a store id may not hold")
	require.Equal(t, "sms:+14255550123", keys.Contact("sms", "+14255550123"))
}

// A retry's id derives from the first message's id and the attempt: the same
// attempt is the same id (a duplicate the queue drops), another attempt is
// another message, and no id exceeds Service Bus's 128 characters.
func TestRetryIDs(t *testing.T) {
	require.Equal(t, "esc:INC-1:1:2:r1", keys.Retry("esc:INC-1:1:2", 1))
	require.Equal(t, keys.Retry("alert:x", 3), keys.Retry("alert:x", 3))
	require.NotEqual(t, keys.Retry("alert:x", 3), keys.Retry("alert:x", 4))
	require.NotEqual(t, keys.Retry("alert:x", 1), "alert:x", "a copy is not dropped as a duplicate of its original")

	long := strings.Repeat("a", 125)
	require.Equal(t, long+":r1", keys.Retry(long, 1), "fits: kept as it is")
	for _, n := range []int{9, 10, 1000} {
		id := keys.Retry(long, n)
		require.LessOrEqual(t, len(id), bus.MaxIDLength, id)
		require.True(t, strings.HasSuffix(id, ":r"+strconv.Itoa(n)), id)
	}
	require.NotEqual(t, keys.Retry(long, 10), keys.Retry(long, 11))
	other := strings.Repeat("a", 120) + "bbbbbbbb"
	require.NotEqual(t, keys.Retry(long+"aaa", 10), keys.Retry(other, 10), "two long ids with one prefix stay apart")
	require.Len(t, keys.Retry(strings.Repeat("x", 128), 16), bus.MaxIDLength)
}

// Parts are delimited, so that no two different lists of parts share a key.
func TestPartsAreDelimited(t *testing.T) {
	require.NotEqual(t, keys.ID("INC-", "ab", "c"), keys.ID("INC-", "a", "bc"))
	require.NotEqual(t, keys.Hash("ab", "c"), keys.Hash("a", "bc"))
	require.NotEqual(t, keys.Notification("ab", "c"), keys.Notification("a", "bc"))
	require.NotEqual(t, keys.Hash("a"), keys.Hash("a", ""))
	require.NotEqual(t, keys.DedupLock("dk"), keys.DedupLock("DK"), "dedup keys are case-sensitive")
}
