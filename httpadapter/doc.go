// Package httpadapter serves magiclink over net/http: the three sign-in
// link APIs it reproduces field for field — send-magic-link for browsers
// (seed 001), the partner API CreateMagicLink with API keys (seed 002) and
// the admin magic_link endpoint with bearer JWTs (seed 003) — plus the
// scanner-safe confirm page at /auth/verify, sign-out, and a session
// middleware.
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
// # Behaviour common to every endpoint
//
// Every response carries X-Request-Id (a valid incoming one — 1 to 128 of
// A-Z a-z 0-9 . _ - — is kept, else a random UUID is made) and
// Cache-Control: no-store. Every error answers in the envelope of the
// endpoint's own contract, including 405 (with Allow), 413, 415, 429 and
// 503 (both with Retry-After in whole seconds) and the 500 of a recovered
// panic. Request bodies are limited to 64 KiB and JSON bodies must be
// application/json (parameters such as charset allowed), one object, with
// nothing after it. A store outage is 503, never 500.
//
// Form posts to verify and sign-out are refused with 403 unless they come
// from this site (login-CSRF defence): Sec-Fetch-Site must be absent or
// same-origin, and Origin, when present, this server's origin, an allowed
// callback origin, or "null" together with Sec-Fetch-Site: same-origin —
// what browsers send from the confirm page under its
// Referrer-Policy: no-referrer.
//
// The client address for rate limits comes from internal/clientip: the
// forwarded header is read, from the right, only when RemoteAddr is one of
// Config.TrustedProxies. A request whose address cannot be determined is
// answered 400 rather than limited under an empty or shared key.
//
// # Choices the source documents leave open
//
//   - Unknown JSON members are ignored on every endpoint, as seed 001's Zod
//     schema strips them; a wrong type for a known member is a 400 naming
//     the member.
//   - send-magic-link: a callback_next without a leading slash, as in the
//     seed's own example "example", is read relative to the root
//     ("/example") when it starts with a letter, digit, "_", "-" or "~" and
//     has no colon before its first "/"; the result must still pass
//     magiclink.SafeNext. Anything else is judged as sent. Empty callback
//     origin values count as absent, so the next source is consulted; a
//     present but disallowed value is always a 400.
//   - send-magic-link adds METHOD_NOT_ALLOWED to the seed-001 codes; verify
//     and sign-out answer JSON errors in the seed-001 envelope, with
//     FORBIDDEN for a cross-site request.
//   - CreateMagicLink issues the link before it stores a new user, so a
//     failure leaves nothing behind and the partner can retry; a user is
//     never stored without its SecretKey reaching the partner. Links go to
//     the key's PortalOrigin and its Next path (default "/"). With
//     X-User-Secret-Key the stored profile is not updated from the body.
//   - admin magic_link: a missing or empty customerId is 400 BAD_REQUEST, a
//     customerId of the wrong type, longer than 255 bytes or with
//     characters other than printable ASCII is 422 UNPROCESSABLE_ENTITY.
//     The seed has no codes for 413, 415 and 503; they are
//     PAYLOAD_TOO_LARGE, UNSUPPORTED_MEDIA_TYPE and SERVICE_UNAVAILABLE in
//     the same envelope. Without Config.Admin every request is 401.
//   - The confirm page shows the origin of the host serving it and never
//     looks at the token beyond its shape. A failed form sign-in answers
//     400 (not 410: the same page also reports wrong codes) and shows the
//     code form. JSON verify returns the session as a bearer token and
//     sets no cookie.
//   - sign-out reads no body, so it accepts any content type: a form post
//     is answered 303 to "/", anything else 204.
//   - OPTIONS on any route is 204 with Allow.
package httpadapter
