package app

import (
	"encoding/base64"
	"encoding/json"
	"strings"
	"time"

	"vigil/internal/fault"
)

// Cursor is where a newest-first listing left off: the creation time and id
// of the last item given. Clients hold it as an opaque token (String) and
// send it back to continue; a listing is keyset-paged, so items created or
// changed meanwhile never make a page skip or repeat what is older.
type Cursor struct {
	CreatedAt int64  `json:"c"` // Unix nanoseconds
	ID        string `json:"i"`
}

// CursorAt is the cursor just past an item.
func CursorAt(created time.Time, id string) Cursor {
	return Cursor{CreatedAt: created.UnixNano(), ID: id}
}

// IsZero reports whether the cursor is unset: a listing from the newest.
func (c Cursor) IsZero() bool { return c.ID == "" }

// Admits reports whether an item created at created with id comes after the
// cursor, newest first (ties broken by id, descending).
func (c Cursor) Admits(created int64, id string) bool {
	return c.IsZero() || created < c.CreatedAt || (created == c.CreatedAt && id < c.ID)
}

// String is the cursor as a client holds it.
func (c Cursor) String() string {
	if c.IsZero() {
		return ""
	}
	b, _ := json.Marshal(c)
	return base64.RawURLEncoding.EncodeToString(b)
}

// ParseCursor reads a cursor a listing gave.
func ParseCursor(s string) (Cursor, error) {
	var c Cursor
	if strings.TrimSpace(s) == "" {
		return c, nil
	}
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil || json.Unmarshal(b, &c) != nil || c.ID == "" || c.CreatedAt <= 0 {
		return Cursor{}, fault.InvalidField("cursor", "is not a cursor this API gave (use the value of next from the previous page)")
	}
	return c, nil
}

// next is the cursor that continues a page of items when more remain.
func next[T any](items []T, more bool, key func(T) (time.Time, string)) Cursor {
	if !more || len(items) == 0 {
		return Cursor{}
	}
	created, id := key(items[len(items)-1])
	return CursorAt(created, id)
}
