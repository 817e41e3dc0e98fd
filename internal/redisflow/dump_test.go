package redisflow

import (
	"bytes"
	"encoding/base64"
	"fmt"
	"testing"

	"github.com/magiclink-go/magiclink/internal/testredis"
	"github.com/magiclink-go/magiclink/mailer"
)

// TestRedisDumpHoldsNoSecret: after links are issued, nothing in
// Redis — keys or values — contains a link secret (raw or encoded) or a
// code, and every key expires on its own.
func TestRedisDumpHoldsNoSecret(t *testing.T) {
	rs := testredis.Start(t)
	rdb := rs.Client(t)
	ctx := t.Context()
	s := newServer(t, rdb, serverOptions{prefix: "dump"})
	var msgs []*mailer.Message
	for i := range 5 {
		msgs = append(msgs, s.sendFor(t, fmt.Sprintf("dump%d@example.com", i)))
	}
	var dump bytes.Buffer
	iter := rdb.Scan(ctx, 0, "*", 1000).Iterator()
	keys := 0
	for iter.Next(ctx) {
		k := iter.Val()
		keys++
		// Every key expires on its own: limiter keys once they carry no
		// information, tokens and codes with the link.
		if ttl := rdb.PTTL(ctx, k).Val(); ttl == -1 {
			t.Errorf("key %s has no expiry", k)
		}
		dump.WriteString(k + "\n")
		switch typ := rdb.Type(ctx, k).Val(); typ {
		case "string":
			dump.WriteString(rdb.Get(ctx, k).Val() + "\n")
		case "hash":
			for f, v := range rdb.HGetAll(ctx, k).Val() {
				dump.WriteString(f + "=" + v + "\n")
			}
		case "none":
			// A limiter key that expired since the scan.
		default:
			t.Errorf("unexpected key type %s for %s", typ, k)
		}
	}
	if err := iter.Err(); err != nil {
		t.Fatal(err)
	}
	if keys == 0 {
		t.Fatal("Redis holds no keys; the test proves nothing")
	}
	for _, m := range msgs {
		tok := tokenOf(m.Link)
		raw, _ := base64.RawURLEncoding.DecodeString(tok)
		for what, needle := range map[string][]byte{"encoded secret": []byte(tok), "raw secret": raw, "code": []byte(m.Code)} {
			if bytes.Contains(dump.Bytes(), needle) {
				t.Errorf("the Redis dump contains a %s", what)
			}
		}
	}
	t.Logf("Redis dump: %d keys, %d bytes, no link secret or code in it", keys, dump.Len())
}
