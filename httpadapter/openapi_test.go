package httpadapter_test

import (
	"net/http"
	"testing"

	"github.com/magiclink-go/magiclink/httpadapter"
)

func TestOpenAPIDocument(t *testing.T) {
	t.Parallel()
	sb, err := loadSpec()
	if err != nil {
		t.Fatal(err)
	}
	if sb.doc.OpenAPI != "3.1.0" {
		t.Fatalf("openapi = %q", sb.doc.OpenAPI)
	}
	for _, p := range []string{"/auth/send-magic-link", "/api/v1/Auth/CreateMagicLink", "/admin/magic_link", "/auth/verify", "/auth/sign-out", "/openapi.yaml"} {
		if sb.doc.Paths.Value(p) == nil {
			t.Errorf("openapi.yaml lacks %s", p)
		}
	}
	a, b := httpadapter.OpenAPI(), httpadapter.OpenAPI()
	a[0] = 'X'
	if b[0] == 'X' {
		t.Fatal("OpenAPI returns shared memory")
	}
}

// The seed documents' example requests are valid under openapi.yaml.
func TestOpenAPIAcceptsSeedRequests(t *testing.T) {
	t.Parallel()
	wantValidRequest(t, http.MethodPost, sendPath, "application/json",
		`{"email":"hello@example.com","callback_origin":"https://example.com","callback_next":"example"}`)
	wantValidRequest(t, http.MethodPost, createPath, "application/json", seed002Body, "X-Api-Key", partnerKey)
	wantValidRequest(t, http.MethodPost, adminPath, "application/json", `{"customerId":"cus_<id>"}`, "Authorization", "Bearer x")
	wantValidRequest(t, http.MethodPost, verifyPath, "application/json", `{"token_hash":"abc","type":"magiclink"}`)
	wantValidRequest(t, http.MethodPost, verifyPath, "application/json", `{"email":"a@example.com","code":"123456"}`)
	wantValidRequest(t, http.MethodPost, verifyPath, "application/x-www-form-urlencoded", "token_hash=abc&type=magiclink")
}
