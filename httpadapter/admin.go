package httpadapter

import (
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"strings"

	"github.com/golang-jwt/jwt/v5"

	"github.com/magiclink-go/magiclink"
	"github.com/magiclink-go/magiclink/internal/mask"
	"github.com/magiclink-go/magiclink/store"
)

// maxBearerLen bounds a bearer token; real admin JWTs are far shorter.
const maxBearerLen = 8 << 10

// maxCustomerIDLen bounds a customerId.
const maxCustomerIDLen = 255

// adminClaims are the claims an admin token is checked for.
type adminClaims struct {
	jwt.RegisteredClaims
	Scope  any `json:"scope,omitempty"`
	Scp    any `json:"scp,omitempty"`
	Scopes any `json:"scopes,omitempty"`
}

// hasScope reports whether want is among the token's scopes: "scope" as a
// space-separated string (RFC 8693), or "scp"/"scopes" as an array or a
// string, as various issuers write them.
func (c *adminClaims) hasScope(want string) bool {
	for _, v := range []any{c.Scope, c.Scp, c.Scopes} {
		switch s := v.(type) {
		case string:
			for _, f := range strings.Fields(s) {
				if f == want {
					return true
				}
			}
		case []any:
			for _, e := range s {
				if str, ok := e.(string); ok && str == want {
					return true
				}
			}
		}
	}
	return false
}

// adminAuth verifies the bearer JWT of an admin request.
func (h *Handler) adminAuth(r *http.Request) (*adminClaims, *apiError) {
	unauthorized := func(msg, challenge string) *apiError {
		e := newAPIError(http.StatusUnauthorized, codeUnauthorized, msg)
		e.authenticate = challenge
		return e
	}
	if h.admin == nil {
		return nil, unauthorized("the admin API is not enabled on this server", "Bearer")
	}
	auth, single := singleHeader(r, "Authorization")
	if !single {
		return nil, unauthorized("send one Authorization header", `Bearer error="invalid_request"`)
	}
	if auth == "" {
		return nil, unauthorized("an Authorization: Bearer token is required", "Bearer")
	}
	scheme, tok, ok := strings.Cut(auth, " ")
	tok = strings.TrimSpace(tok)
	if !ok || !strings.EqualFold(scheme, "Bearer") || tok == "" || len(tok) > maxBearerLen {
		return nil, unauthorized("an Authorization: Bearer token is required", `Bearer error="invalid_request"`)
	}
	a := h.admin
	opts := []jwt.ParserOption{
		jwt.WithValidMethods(a.methods), jwt.WithExpirationRequired(), jwt.WithIssuedAt(),
		jwt.WithLeeway(a.leeway), jwt.WithTimeFunc(h.core.Now),
	}
	if a.issuer != "" {
		opts = append(opts, jwt.WithIssuer(a.issuer))
	}
	if a.audience != "" {
		opts = append(opts, jwt.WithAudience(a.audience))
	}
	if err := checkJOSE(tok); err != nil {
		return nil, unauthorized("Invalid or malformed token", `Bearer error="invalid_token"`)
	}
	var claims adminClaims
	_, err := jwt.ParseWithClaims(tok, &claims, h.adminKey, opts...)
	if err != nil {
		msg := "Invalid or malformed token"
		if errors.Is(err, jwt.ErrTokenExpired) {
			msg = "token is expired"
		}
		return nil, unauthorized(msg, `Bearer error="invalid_token"`)
	}
	if claims.Subject == "" {
		return nil, unauthorized("token has no subject", `Bearer error="invalid_token"`)
	}
	if a.scope != "" && !claims.hasScope(a.scope) {
		e := newAPIError(http.StatusForbidden, codeForbidden, "the token lacks the scope "+a.scope)
		e.authenticate = `Bearer error="insufficient_scope", scope="` + a.scope + `"`
		return nil, e
	}
	return &claims, nil
}

// adminKey picks the verification key by the token's kid: a token with a
// kid is verified only by the configured key of that ID, and refused when
// there is none (also when a single Key is configured: a kid the server
// does not know means the issuer meant another key); a token without one
// by Key. The algorithm is already pinned by WithValidMethods, and
// golang-jwt refuses a key of the wrong type for the algorithm, so an RSA
// public key can never be used as an HMAC secret.
func (h *Handler) adminKey(t *jwt.Token) (any, error) {
	a := h.admin
	if kid, hasKid := t.Header["kid"]; hasKid {
		s, ok := kid.(string)
		if !ok {
			return nil, errors.New("kid is not a string")
		}
		if k, ok := a.keys[s]; ok {
			return k, nil
		}
		return nil, errors.New("unknown kid")
	}
	if a.key == nil {
		return nil, errors.New("token has no kid")
	}
	return a.key, nil
}

// adminMagicLink serves POST /admin/magic_link.
//
// A missing or empty customerId is 400 (the request is incomplete); a
// customerId of the wrong type, too long or with characters no ID has is
// 422 (well-formed but semantically wrong).
func (h *Handler) adminMagicLink(w http.ResponseWriter, r *http.Request) {
	claims, aerr := h.adminAuth(r)
	if aerr != nil {
		h.adminError(w, r, aerr)
		return
	}
	ctx := r.Context()
	if err := h.core.Limit(ctx, "admin_subject", h.core.AdminPerSubject, claims.Subject); err != nil {
		e := fromError(err)
		if e.status == http.StatusTooManyRequests {
			e.message = "Wait " + strconv.Itoa(retrySeconds(e.retryAfter)) + " seconds before retrying."
		}
		h.adminError(w, r, e)
		return
	}
	f, aerr := decodeJSON(w, r)
	if aerr != nil {
		if aerr.status == http.StatusBadRequest {
			aerr.message = "invalid_json: " + aerr.message
		}
		h.adminError(w, r, aerr)
		return
	}
	id, k := f.str("customerId")
	switch {
	case k == fieldMissing:
		h.adminError(w, r, newAPIError(http.StatusBadRequest, "BAD_REQUEST", "invalid_type in 'customerId': Required"))
		return
	case k == fieldWrongType:
		h.adminError(w, r, newAPIError(http.StatusUnprocessableEntity, "UNPROCESSABLE_ENTITY",
			"invalid_type in 'customerId': Expected string, received "+jsonType(f["customerId"])))
		return
	case id == "":
		h.adminError(w, r, newAPIError(http.StatusBadRequest, "BAD_REQUEST", "too_small in 'customerId': String must contain at least 1 character(s)"))
		return
	case len(id) > maxCustomerIDLen:
		h.adminError(w, r, newAPIError(http.StatusUnprocessableEntity, "UNPROCESSABLE_ENTITY", "too_big in 'customerId': String must contain at most 255 character(s)"))
		return
	case strings.ContainsFunc(id, func(r rune) bool { return r <= ' ' || r > '~' }):
		h.adminError(w, r, newAPIError(http.StatusUnprocessableEntity, "UNPROCESSABLE_ENTITY", "invalid_string in 'customerId': must be printable ASCII without spaces"))
		return
	}
	c, err := h.core.Store.CustomerByID(ctx, id)
	if err != nil {
		if errors.Is(err, store.ErrNotFound) {
			h.adminError(w, r, newAPIError(http.StatusNotFound, "NOT_FOUND", "Customer not found"))
			return
		}
		h.adminError(w, r, storeFailure(err))
		return
	}
	link, err := h.svc.CreateLink(ctx, magiclink.LinkRequest{Email: c.Email, Origin: h.admin.origin, Next: h.admin.next, OrgID: c.OrgID})
	if err != nil {
		h.adminError(w, r, fromError(err))
		return
	}
	h.log.InfoContext(ctx, "httpadapter: admin link created", "subject", claims.Subject, "customer", id, "email", mask.Address(c.Email))
	writeAdminLink(w, link.URL)
}

// jsonType names a JSON value's type as Zod messages do.
func jsonType(raw json.RawMessage) string {
	if len(raw) == 0 {
		return "undefined"
	}
	switch raw[0] {
	case 'n':
		return "null"
	case 't', 'f':
		return "boolean"
	case '{':
		return "object"
	case '[':
		return "array"
	case '"':
		return "string"
	}
	return "number"
}
