package redisstore

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"io"
	"math/big"
	"mime/quotedprintable"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/magiclink-go/magiclink/internal/testredis"
	"github.com/magiclink-go/magiclink/mailer"
	"github.com/magiclink-go/magiclink/mailer/outboxtest"
)

// The crash child is this test binary re-executed with crashChildEnv set to
// "redis-addr prefix smtp-port count": it accepts count mails into the
// outbox, printing one line per accepted mail, then "DONE", and waits to
// be killed.
const crashChildEnv = "MAGICLINK_OUTBOX_CRASH_CHILD"

// crashWorkers is the child's worker count.
const crashWorkers = 4

// crashSends is how many mails the child accepts.
const crashSends = 300

func crashOptions() mailer.OutboxOptions {
	return mailer.OutboxOptions{
		Secret:            []byte(outboxtest.Secret),
		Workers:           crashWorkers,
		MaxAttempts:       1000,
		BaseDelay:         20 * time.Millisecond,
		MaxDelay:          200 * time.Millisecond,
		VisibilityTimeout: time.Second,
		PollInterval:      50 * time.Millisecond,
	}
}

func crashSMTP(port int) (*mailer.SMTP, error) {
	return mailer.NewSMTP(mailer.SMTPConfig{Host: "127.0.0.1", Port: port, TLS: mailer.TLSNone,
		From: "Acme <no-reply@acme.example>", HELO: "localhost", Timeout: 20 * time.Second})
}

// TestOutboxSurvivesSIGKILL: a process accepts hundreds of mails while the
// SMTP server refuses them; then the server takes a mail but withholds its
// reply, and the process is killed with SIGKILL. Redis then holds no link secret, code or address in plaintext.
// With the SMTP server back, a second instance on the same Redis delivers
// every accepted mail — those queued, those waiting out a backoff and those
// the dead process had in flight — and any duplicate carries the same
// Message-ID.
func TestOutboxSurvivesSIGKILL(t *testing.T) {
	if args := os.Getenv(crashChildEnv); args != "" {
		crashChild(args)
		return
	}
	t.Parallel()
	srv := testredis.Start(t)
	rdb := srv.Client(t)
	uncompressedDumps(t, rdb)
	sink, port := startSink(t, sinkRefuse)
	prefix := uniquePrefix()

	accepted, kill := startCrashChild(t, fmt.Sprintf("%s %s %d %d", srv.Addr(), prefix, port, crashSends))
	waitSink(t, sink, "the child's workers to meet refusals", func(refused, _, _ int) bool { return refused >= 20 })
	sink.setMode(sinkHang)
	waitSink(t, sink, "a delivery to hang", func(_, hanging, _ int) bool { return hanging >= 1 })
	keys := prefix + ":{outbox:mail}:"
	waitRedis(t, "every child worker to hold a claim", func() bool {
		p, err := rdb.XPending(t.Context(), keys+"s", "mailer").Result()
		return err == nil && p.Count == crashWorkers
	})
	kill()
	sink.setMode(sinkRefuse) // the hung sessions answer; their client is gone
	queued, retrying := rdb.XLen(t.Context(), keys+"s").Val(), rdb.ZCard(t.Context(), keys+"r").Val()
	pending := rdb.XPending(t.Context(), keys+"s", "mailer").Val().Count
	refused, _, _, _ := sink.snapshot()
	t.Logf("killed with %d accepted: %d in the stream (%d of them claimed by the dead process), %d waiting out a backoff; %d attempts refused",
		len(accepted), queued, pending, retrying, refused)
	if len(accepted) < crashSends || retrying == 0 || pending == 0 || int(queued+retrying) != len(accepted) {
		t.Fatalf("the kill did not catch mail in every state: accepted %d, stream %d, claimed %d, retrying %d",
			len(accepted), queued, pending, retrying)
	}

	checkDump(t, srv, rdb, prefix, accepted)

	sink.setMode(sinkAccept)
	m, err := crashSMTP(port)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = m.Close() })
	second, err := NewOutbox(rdb, m, crashOptions(), WithOutboxPrefix(prefix))
	if err != nil {
		t.Fatal(err)
	}
	waitSink(t, sink, "every accepted mail", func(_, _, _ int) bool {
		ids, _ := sink.taken()
		for to := range accepted {
			if len(ids[to]) == 0 {
				return false
			}
		}
		return true
	})
	checkArrivals(t, sink, accepted)
	waitRedis(t, "the dead process's consumer to be pruned", func() bool {
		return len(rdb.XInfoConsumers(t.Context(), keys+"s", "mailer").Val()) == 1
	})
	if err := second.Close(t.Context()); err != nil {
		t.Fatal(err)
	}
	if c := rdb.XInfoConsumers(t.Context(), keys+"s", "mailer").Val(); len(c) != 0 {
		t.Fatalf("consumers left after a clean Close: %+v", c)
	}
	if s, err := second.Stats(t.Context()); err != nil || s.Queued != 0 || s.Dead != 0 {
		t.Fatalf("after delivery: %+v, %v; want nothing queued or dead", s, err)
	}
}

// crashMail is what the child printed about one accepted mail.
type crashMail struct{ token, code string }

// startCrashChild runs the child and reads its accepted mails until DONE.
// kill SIGKILLs it and waits for it to exit.
func startCrashChild(t *testing.T, args string) (map[string]crashMail, func()) {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestOutboxSurvivesSIGKILL$")
	cmd.Env = append(os.Environ(), crashChildEnv+"="+args)
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	killed := false
	kill := func() {
		if killed {
			return
		}
		killed = true
		_ = cmd.Process.Signal(syscall.SIGKILL)
		_ = cmd.Wait()
	}
	t.Cleanup(kill)
	lines := make(chan string)
	go func() {
		defer close(lines)
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			lines <- sc.Text()
		}
		_, _ = io.Copy(io.Discard, out)
	}()
	accepted := map[string]crashMail{}
	deadline := time.After(60 * time.Second)
	for {
		select {
		case line, ok := <-lines:
			if !ok {
				t.Fatalf("the child exited before DONE, after %d mails", len(accepted))
			}
			if line == "DONE" {
				return accepted, kill
			}
			if f := strings.Fields(line); len(f) == 4 && f[0] == "ACCEPTED" {
				accepted[f[1]] = crashMail{token: f[2], code: f[3]}
			}
		case <-deadline:
			t.Fatalf("the child did not finish accepting: %d mails", len(accepted))
		}
	}
}

// crashChild is the child's main: it never returns until killed.
func crashChild(args string) {
	var addr, prefix string
	var port, n int
	if _, err := fmt.Sscan(args, &addr, &prefix, &port, &n); err != nil {
		fmt.Fprintln(os.Stderr, "crash child: bad arguments:", err)
		os.Exit(2)
	}
	rdb := redis.NewClient(&redis.Options{Addr: addr, ContextTimeoutEnabled: true})
	m, err := crashSMTP(port)
	if err != nil {
		fmt.Fprintln(os.Stderr, "crash child:", err)
		os.Exit(2)
	}
	tpl := mailer.DefaultTemplates()
	o := crashOptions()
	o.Renderer = tpl
	ob, err := NewOutbox(rdb, m, o, WithOutboxPrefix(prefix))
	if err != nil {
		fmt.Fprintln(os.Stderr, "crash child:", err)
		os.Exit(2)
	}
	ctx := context.Background()
	for i := range n {
		to, token, code := fmt.Sprintf("crash-%d@example.com", i), randomToken(), randomCode()
		d := mailer.LinkData{To: to, AppName: "Acme", Origin: "https://app.example",
			Link: "https://app.example/auth/verify?token_hash=" + token + "&type=magiclink&next=%2F",
			Code: code, TTL: 15 * time.Minute, ExpiresAt: time.Now().Add(15 * time.Minute), Locale: "en"}
		if i%2 == 0 {
			err = ob.SendLinkMail(ctx, tpl, d) // rendered by a worker
		} else {
			var msg *mailer.Message
			if msg, err = tpl.Render(d); err == nil {
				err = ob.Send(ctx, msg) // rendered before it was stored
			}
		}
		if err == nil {
			fmt.Printf("ACCEPTED %s %s %s\n", to, token, code)
		}
	}
	fmt.Println("DONE")
	select {} // the workers keep running until SIGKILL
}

func randomToken() string {
	var b [32]byte
	_, _ = rand.Read(b[:])
	return base64.RawURLEncoding.EncodeToString(b[:])
}

func randomCode() string {
	n, _ := rand.Int(rand.Reader, big.NewInt(1_000_000))
	return fmt.Sprintf("%06d", n.Int64())
}

// checkDump fails when the outbox's keys, read back and DUMPed, or a full
// RDB snapshot of the server (redis-cli --rdb, when installed) hold any
// accepted mail's link secret, code or address.
func checkDump(t *testing.T, srv *testredis.Server, rdb *redis.Client, prefix string, accepted map[string]crashMail) {
	t.Helper()
	dumps := map[string][]byte{"the outbox keys": rawKeys(t, rdb, prefix)}
	if cli, err := exec.LookPath("redis-cli"); err == nil {
		path := t.TempDir() + "/dump.rdb"
		if out, err := exec.Command(cli, "-p", strconv.Itoa(srv.Port()), "--rdb", path).CombinedOutput(); err != nil {
			t.Fatalf("redis-cli --rdb: %v: %s", err, out)
		}
		rdbFile, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		// Cut out what is no mail's: the replication ID (hex) and the names
		// rawKeys cuts; the prefix check below runs on the outbox keys.
		info := rdb.Info(t.Context(), "replication").Val()
		var names []string
		for _, line := range strings.Split(info, "\r\n") {
			if id, ok := strings.CutPrefix(line, "master_replid:"); ok {
				names = append(names, id)
			}
		}
		for _, k := range []string{"s", "d"} {
			for _, c := range rdb.XInfoConsumers(t.Context(), prefix+":{outbox:mail}:"+k, "mailer").Val() {
				names = append(names, c.Name)
			}
		}
		dumps["the RDB snapshot"] = cutOut(rdbFile, append(names, prefix)...)
	} else {
		t.Log("redis-cli not on PATH: no RDB snapshot check")
	}
	for name, dump := range dumps {
		if !bytes.Contains(dump, []byte("outbox:mail")) {
			t.Fatalf("%s (%d bytes) does not hold the outbox at all", name, len(dump))
		}
		for to, c := range accepted {
			for what, s := range map[string]string{"link secret": c.token, "code": c.code, "address": to} {
				if bytes.Contains(dump, []byte(s)) {
					t.Fatalf("%s holds a %s in plaintext", name, what)
				}
			}
		}
		t.Logf("%s: %d bytes, none of the %d mails' link secrets, codes or addresses", name, len(dump), len(accepted))
	}
}

// checkArrivals: every recipient got its own link, and every copy of one
// mail carries one Message-ID.
func checkArrivals(t *testing.T, sink *smtpSink, accepted map[string]crashMail) {
	t.Helper()
	ids, bodies := sink.taken()
	dups, seen := 0, map[string]string{}
	for to, c := range accepted {
		got := ids[to]
		for _, id := range got[1:] {
			if id != got[0] {
				t.Fatalf("%s: duplicates with Message-IDs %q and %q", to, got[0], id)
			}
		}
		if other, ok := seen[got[0]]; ok {
			t.Fatalf("%s and %s share the Message-ID %s", to, other, got[0])
		}
		seen[got[0]] = to
		dups += len(got) - 1
		decoded, _ := io.ReadAll(quotedprintable.NewReader(bytes.NewReader(bodies[to])))
		if !bytes.Contains(decoded, []byte(c.token)) || !bytes.Contains(decoded, []byte(c.code[:3]+" "+c.code[3:])) {
			t.Fatalf("%s: the mail that arrived lacks its link or code", to)
		}
	}
	if extra := len(ids) - len(accepted); extra != 0 {
		t.Fatalf("%d recipients got mail that was never accepted", extra)
	}
	if dups == 0 {
		t.Fatal("no duplicate: the mail taken without a reply was not sent again")
	}
	t.Logf("all %d accepted mails arrived, %d duplicates (each with its mail's Message-ID)", len(accepted), dups)
}

// waitSink waits, with a deadline, until cond holds for the sink's counters.
func waitSink(t *testing.T, k *smtpSink, what string, cond func(refused, hanging, received int) bool) {
	t.Helper()
	deadline := time.After(60 * time.Second)
	for {
		refused, hanging, received, changed := k.snapshot()
		if cond(refused, hanging, received) {
			return
		}
		select {
		case <-changed:
		case <-deadline:
			t.Fatalf("timed out waiting for %s (refused %d, hanging %d, received %d)", what, refused, hanging, received)
		}
	}
}

// waitRedis polls cond, with a deadline.
func waitRedis(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		<-tick.C
	}
}
