package signedlink

import (
	"bytes"
	"testing"
)

// FuzzAckToken: no incident, person, expiry and token an attacker can send opens
// an acknowledge link unless the token is the one Vigil signed for exactly that
// incident, person and expiry.
func FuzzAckToken(f *testing.F) {
	s, err := New(bytes.Repeat([]byte("f"), 32))
	if err != nil {
		f.Fatal(err)
	}
	genuine := s.AckToken("INC-ABC", "amara", 1800000000)
	f.Add("INC-ABC", "amara", int64(1800000000), genuine)
	f.Add("INC-ABC", "amara", int64(1800000001), genuine)
	f.Add("INC-ABC\x00amara", "", int64(1800000000), genuine)
	f.Add("INC-ABC", "amara\x001800000000", int64(0), genuine)
	f.Add("", "", int64(-1), "")
	f.Fuzz(func(t *testing.T, id, person string, expires int64, token string) {
		ok := s.CheckAckToken(id, person, expires, token)
		want := token == s.AckToken(id, person, expires)
		if ok != want {
			t.Fatalf("CheckAckToken(%q, %q, %d, %q) = %v, want %v", id, person, expires, token, ok, want)
		}
		if ok && token == genuine && (id != "INC-ABC" || person != "amara" || expires != 1800000000) {
			t.Fatalf("the token of INC-ABC/amara/1800000000 opens %q/%q/%d", id, person, expires)
		}
		if s.CheckCaseToken(id, token) && token != "" && token == s.AckToken(id, person, expires) {
			t.Fatalf("an acknowledge token opens a case link")
		}
	})
}

func TestAckTokenSubjectsDoNotCollide(t *testing.T) {
	s, _ := New(bytes.Repeat([]byte("f"), 32))
	if s.AckToken("a\x00b", "c", 1) == s.AckToken("a", "b\x00c", 1) {
		t.Fatal("two different (incident, person) pairs share a token")
	}
	if s.AckToken("a1", "", 2) == s.AckToken("a", "12", 0) {
		t.Fatal("the expiry can be shifted into the person")
	}
}
