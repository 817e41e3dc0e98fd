package httpadapter

import (
	"encoding/json"
	"testing"
)

// flatObjectSeeds are bodies either side of the line: flat objects the
// shortcut must take, and near misses it must leave to json.Valid.
var flatObjectSeeds = []string{
	`{}`, ` { } `, `{"email":"a@example.com","callback_origin":"https://app.example.com","callback_next":"/x"}`,
	"{\"a\":\"\\u00e9\\n\\\"\\\\\\/\\b\\f\\r\\t\",\"b\":-0.5e+10,\"c\":true,\"d\":false,\"e\":null,\"f\":0}\r\n",
	`{"a":1}x`, `{"a":1,}`, `{"a" 1}`, `{"a":01}`, `{"a":1.}`, `{"a":.5}`, `{"a":1e}`, `{"a":-}`, `{"a":tru}`,
	`{"a":"\x"}`, `{"a":"\u12"}`, "{\"a\":\"\x01\"}", `{"a":"unterminated}`, `{"a":{"b":1}}`, `{"a":[1]}`,
	`[]`, `"s"`, `{"a":1}{}`, `{a:1}`, `{"a":1 "b":2}`, `{`, ``, `{"a":1`, `{"a":"\uD800"}`, `{"a":NaN}`,
	`{"a":Infinity}`, `{"a":+1}`, `{"a":0x10}`, "{\"a\":1}\x00",
}

// The shortcut never accepts a body json.Valid refuses, nor anything but
// an object.
func FuzzFlatObjectImpliesValid(f *testing.F) {
	for _, s := range flatObjectSeeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		if flatObject(b) && (!json.Valid(b) || firstByte(b) != '{') {
			t.Fatalf("flatObject accepted %q, which json.Valid refuses or is not an object", b)
		}
	})
}

// Real send bodies take the shortcut.
func TestFlatObjectTakesFlatBodies(t *testing.T) {
	t.Parallel()
	for _, s := range flatObjectSeeds[:4] {
		if !flatObject([]byte(s)) {
			t.Errorf("flatObject(%q) = false, want true", s)
		}
	}
	for _, s := range flatObjectSeeds[4:] {
		if flatObject([]byte(s)) && !json.Valid([]byte(s)) {
			t.Errorf("flatObject(%q) = true for invalid JSON", s)
		}
	}
}
