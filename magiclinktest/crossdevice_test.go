package magiclinktest_test

import (
	"net/http"
	"strconv"
	"testing"
	"time"

	"github.com/magiclink-go/magiclink/magiclinktest"
)

func TestAskOnOneDeviceApproveOnAnother(t *testing.T) {
	t.Parallel()
	h := magiclinktest.New(t)
	h.Mux.Handle("GET /me", h.Handler.Authenticate(http.HandlerFunc(dashboard)))

	laptop := h.Ask("ada@example.com")
	match := laptop.Match()
	if code := h.Approve(h.LastLink("ada@example.com"), match); code != http.StatusOK {
		t.Fatalf("approving with the right number answered %d, want 200", code)
	}
	client := laptop.SignedIn()
	if status, body := get(t, client, h, "/me"); status != http.StatusOK || body != "Hello, ada@example.com" {
		t.Fatalf("the asking browser after approval: %d %q", status, body)
	}
	if st := laptop.Poll(); st.HTTPStatus != http.StatusNotFound || st.Code != "PENDING_INVALID" {
		t.Fatalf("a poll after the approval was taken: %+v, want 404 PENDING_INVALID", st)
	}
}

func TestApproveWrongNumber(t *testing.T) {
	t.Parallel()
	h := magiclinktest.New(t)
	laptop := h.Ask("eve-target@example.com")
	n, _ := strconv.Atoi(laptop.Match())
	if code := h.Approve(h.LastLink("eve-target@example.com"), strconv.Itoa((n+1)%100)); code != http.StatusBadRequest {
		t.Fatalf("a wrong number answered %d, want 400", code)
	}
	if st := laptop.Poll(); st.Status != "expired" {
		t.Fatalf("the asking browser after a wrong number: %+v, want expired", st)
	}
}

func TestAskExpires(t *testing.T) {
	t.Parallel()
	h := magiclinktest.New(t)
	laptop := h.Ask("slow@example.com")
	if st := laptop.Poll(); st.ExpiresIn != 900 {
		t.Fatalf("a fresh request: %+v, want 900 s left", st)
	}
	h.Advance(15 * time.Minute)
	if st := laptop.Poll(); st.Status != "expired" {
		t.Fatalf("after the link's lifetime: %+v, want expired", st)
	}
}

func TestApproveOfUsedLinkFails(t *testing.T) {
	t.Parallel()
	h, rec := newRecorded(t)
	h.Ask("same@example.com")
	link := h.LastLink("same@example.com")
	h.Follow(link) // signed in on this device: nothing is left to approve
	if msg := rec.fails(func() { h.Approve(link, "12") }); msg == "" {
		t.Fatal("Approve of a used link must fail the test: its page has no approval form")
	}
}
