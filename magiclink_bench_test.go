package magiclink_test

import (
	"context"
	"testing"

	"github.com/magiclink-go/magiclink"
	"github.com/magiclink-go/magiclink/internal/benchcpu"
	"github.com/magiclink-go/magiclink/store"
)

// BenchmarkIssueConsume measures one CreateLink plus one Verify of that link
// for a known user against the memory store: the core cost of a sign-in.
func BenchmarkIssueConsume(b *testing.B) {
	m := store.NewMemory(store.WithSweepInterval(0))
	defer m.Close()
	svc, err := magiclink.New(magiclink.Config{Origins: []string{"https://app.example.com"}, Secret: testSecret, Store: m})
	if err != nil {
		b.Fatal(err)
	}
	defer svc.Close()
	ctx := context.Background()
	req := magiclink.LinkRequest{Email: "bench@example.com", Origin: "https://app.example.com", Next: "/", UserID: "usr_bench"}
	b.ReportAllocs()
	cpu := benchcpu.Start()
	for b.Loop() {
		l, err := svc.CreateLink(ctx, req)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := svc.Verify(ctx, l.Token); err != nil {
			b.Fatal(err)
		}
	}
	cpu.Report(b)
}
