// Package httpadapter serves magiclink over net/http.
//
// A Handler serves three link-issuing APIs, each reproducing an existing
// wire contract field for field:
//
//   - POST /auth/send-magic-link, for browsers: mails a link and a code;
//   - POST /api/v1/Auth/CreateMagicLink, for partners holding an API key
//     (Config.APIKeys): provisions a user and returns a link;
//   - POST /admin/magic_link, for operators holding a bearer JWT
//     (Config.Admin): returns a link for a customer ID;
//
// plus the scanner-safe confirm page at GET /auth/verify (a GET never signs
// in; its button posts), POST /auth/verify for forms (a session cookie) and
// apps (access and refresh tokens), cross-device approval (GET
// /auth/pending for the browser that asked, POST /auth/approve for the
// device that opened the link, with the number the asking browser shows),
// the session endpoints — POST
// /auth/token, GET /auth/user, GET /auth/sessions, DELETE
// /auth/sessions/{id}, POST /auth/sign-out and GET
// /auth/.well-known/jwks.json — and Authenticate, a middleware that checks
// the session in the store on every request and puts the signed-in
// Identity in the request context.
//
// Mount it on a standard mux with Register, or on any router as an
// http.Handler:
//
//	h, err := httpadapter.New(svc, httpadapter.Config{})
//	h.Register(mux)                          // net/http ServeMux
//	r.Mount("/", h)                          // chi
//	mux.Handle("GET /app", h.Authenticate(app))
//
// Under Config.Prefix every route moves below the prefix; set the Service's
// LinkPath to Prefix+"/auth/verify" so that links land on the confirm page.
// OpenAPI returns the OpenAPI 3.1 document of all endpoints.
//
// Every error answers in the body of the endpoint's own contract, including
// 405, 413, 415, 429, 503 and the 500 of a recovered panic; a store outage
// is 503 with Retry-After, never 500. CONTRACTS.md, beside this package's
// source, records every decision the contracts leave open.
package httpadapter
