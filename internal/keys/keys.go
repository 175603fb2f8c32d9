// Package keys makes every identifier Vigil derives: incident and case ids, message
// ids, notification keys, store lock ids. Duplicate detection depends on them being
// pure functions of what identifies a thing, computed one way everywhere, so they
// all come from here.
package keys

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base32"
	"encoding/hex"
	"strconv"
	"strings"

	"vigil/internal/bus"
)

// idAlphabet is Crockford's base32: no I, L, O or U, so ids read aloud and typed
// from a phone screen survive.
var idAlphabet = base32.NewEncoding("0123456789ABCDEFGHJKMNPQRSTVWXYZ").WithPadding(base32.NoPadding)

// sum hashes parts, each delimited so that ("ab", "c") and ("a", "bc") differ.
func sum(parts ...string) [sha256.Size]byte {
	return sha256.Sum256([]byte(strings.Join(parts, "\x00")))
}

// ID is a short id (prefix + 12 characters, 60 bits) that is a pure function of
// parts: redelivering what creates something creates the same thing.
func ID(prefix string, parts ...string) string {
	s := sum(parts...)
	return prefix + idAlphabet.EncodeToString(s[:])[:12]
}

// Random is a short id (prefix + 12 characters, 60 bits) for something that
// nothing else identifies.
func Random(prefix string) string {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return prefix + idAlphabet.EncodeToString(b[:])[:12]
}

// Hash is a 32-character lower-case digest of parts, for keys nobody reads.
func Hash(parts ...string) string {
	s := sum(parts...)
	return strings.ToLower(idAlphabet.EncodeToString(s[:]))[:32]
}

// Retry is the MessageId of the attempt-th scheduled retry of the message
// first sent as id: "<id>:r<attempt>", so that an invocation redelivered after
// it scheduled a retry schedules the same message again, which the queue drops
// as a duplicate. Derived from the first id and the attempt number, never from
// the previous copy's id, so the ids do not grow with each attempt. One that
// would exceed Service Bus's limit is hashed, keeping a readable prefix.
func Retry(id string, attempt int) string {
	suffix := ":r" + strconv.Itoa(attempt)
	if len(id)+len(suffix) <= bus.MaxIDLength {
		return id + suffix
	}
	// 32 hash characters and "~", with the suffix, leave the rest for the prefix.
	keep := bus.MaxIDLength - len(suffix) - 33
	return id[:keep] + "~" + Hash(id) + suffix
}

// Notification is the idempotency key of one notification: the same event about
// the same subject to the same address on the same channel is one notification.
func Notification(parts ...string) string {
	s := sum(parts...)
	return "ntf:" + hex.EncodeToString(s[:20])
}

// DedupLock names the store entry an open incident holds on its dedup key: a
// dedup key may hold characters a store id may not ('/', '\\', '?', '#').
func DedupLock(dedupKey string) string {
	s := sum(dedupKey)
	return "dk-" + hex.EncodeToString(s[:16])
}

// Contact is the key a contact is throttled and bundled by: "sms:+14255550123".
func Contact(channel, address string) string { return channel + ":" + address }
