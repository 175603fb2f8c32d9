package funchost

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strings"

	"vigil/internal/bus"
)

// Content types the Service Bus extension labels converted output values with.
const (
	contentTypeText = "text/plain"
	contentTypeJSON = "application/json"
)

// sendOutputs sends every serviceBus output the function set. It runs after a
// successful invocation and before the trigger is settled or answered, so that
// a crash in between repeats the invocation rather than losing its outputs.
func (h *Host) sendOutputs(ctx context.Context, fn *function, res *invokeResult) error {
	for _, o := range fn.sbOutputs {
		raw, ok := res.Outputs[o.name]
		if o.name == "$return" {
			raw, ok = res.ReturnValue, len(res.ReturnValue) > 0
		}
		if !ok {
			continue
		}
		msgs, err := outputMessages(raw, o.binary)
		if err != nil {
			return fmt.Errorf("output %q: %w", o.name, err)
		}
		if len(msgs) == 0 {
			continue
		}
		if err := h.queue.Send(ctx, o.entity, msgs...); err != nil {
			return fmt.Errorf("output %q: send to %s: %w", o.name, o.entity, err)
		}
	}
	return nil
}

// outputMessages converts a serviceBus output value as the host and the
// Service Bus extension do:
//   - a string is one message; for a non-binary output, a string that is valid
//     base64 is DECODED first (the host's GetBindingValue gotcha: "test" is sent
//     as three bytes), so handlers should send objects or JSON text;
//   - an object is one message, its JSON;
//   - an array is one message per element (no base64 decoding there);
//   - null sends nothing.
//
// Every message gets a fresh random MessageId: the output binding cannot set
// one, so duplicate detection does not apply to binding outputs.
func outputMessages(raw json.RawMessage, binary bool) ([]bus.Message, error) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || string(raw) == "null" {
		return nil, nil
	}
	switch raw[0] {
	case '[':
		var items []json.RawMessage
		if err := json.Unmarshal(raw, &items); err != nil {
			return nil, err
		}
		msgs := make([]bus.Message, 0, len(items))
		for _, it := range items {
			it = bytes.TrimSpace(it)
			if len(it) == 0 || string(it) == "null" {
				continue
			}
			m, err := elementMessage(it)
			if err != nil {
				return nil, err
			}
			msgs = append(msgs, m)
		}
		return msgs, nil
	case '"':
		var s string
		if err := json.Unmarshal(raw, &s); err != nil {
			return nil, err
		}
		if !binary {
			if b, ok := dotnetBase64(s); ok {
				return []bus.Message{{ID: newMessageID(), Body: b}}, nil
			}
		}
		return []bus.Message{{ID: newMessageID(), Body: []byte(s), ContentType: contentTypeText}}, nil
	}
	return []bus.Message{elementMessageMust(raw)}, nil
}

func elementMessage(raw json.RawMessage) (bus.Message, error) {
	if raw[0] == '"' {
		var s string
		if err := json.Unmarshal(raw, &s); err != nil {
			return bus.Message{}, err
		}
		return bus.Message{ID: newMessageID(), Body: []byte(s), ContentType: contentTypeText}, nil
	}
	return elementMessageMust(raw), nil
}

// elementMessageMust handles objects, arrays and scalars, which are already
// valid JSON (they came out of a decoded answer).
func elementMessageMust(raw json.RawMessage) bus.Message {
	var b bytes.Buffer
	if json.Compact(&b, raw) != nil {
		b.Reset()
		b.Write(raw)
	}
	m := bus.Message{ID: newMessageID(), Body: b.Bytes()}
	if raw[0] == '{' || raw[0] == '[' {
		m.ContentType = contentTypeJSON
	} else {
		m.Body = []byte(dotnetScalar(raw))
	}
	return m
}

// dotnetBase64 decodes s as .NET's Convert.FromBase64String does: whitespace
// ignored, padding required, length a multiple of 4.
func dotnetBase64(s string) ([]byte, bool) {
	if strings.ContainsAny(s, " \t\r\n") {
		s = strings.Map(func(r rune) rune {
			if r == ' ' || r == '\t' || r == '\r' || r == '\n' {
				return -1
			}
			return r
		}, s)
	}
	if len(s)%4 != 0 {
		return nil, false
	}
	b, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		return nil, false
	}
	return b, true
}

// newMessageID is a random id in the SDK's style (a GUID without dashes).
func newMessageID() string {
	var u [16]byte
	_, _ = rand.Read(u[:])
	return hex.EncodeToString(u[:])
}
