package httpadapter

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"net/http"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/magiclink-go/magiclink"
	"github.com/magiclink-go/magiclink/internal/mask"
	"github.com/magiclink-go/magiclink/internal/randid"
	"github.com/magiclink-go/magiclink/store"
)

// Headers of seed 002.
const (
	headerAPIKey        = "X-Api-Key"
	headerUserSecretKey = "X-User-Secret-Key"
)

// maxNameLen bounds firstName and lastName, in characters.
const maxNameLen = 100

// secretKeyLen is the number of random bytes in a user's SecretKey.
const secretKeyLen = 32

// findAPIKey returns the configured key whose digest matches raw. Every
// key is compared, in constant time, so the time taken does not tell which
// one (or whether any) matched.
func (h *Handler) findAPIKey(raw string) (*apiKey, bool) {
	if raw == "" || len(raw) > 1024 {
		return nil, false
	}
	d := sha256.Sum256([]byte(raw))
	var found *apiKey
	for i := range h.apiKeys {
		if subtle.ConstantTimeCompare(d[:], h.apiKeys[i].digest[:]) == 1 {
			found = &h.apiKeys[i]
		}
	}
	return found, found != nil
}

// partnerRequest is the validated body of seed 002.
type partnerRequest struct {
	firstName, lastName, email, phone, languageCode string
	mailPermission                                  bool
}

// createMagicLink serves POST /api/v1/Auth/CreateMagicLink (seed 002).
//
// Without X-User-Secret-Key it registers a new user and returns the user's
// SecretKey once, with a link; for a known address it answers 409, because
// handing out a link for an existing account needs that account's key.
// With the header it checks the key and returns a fresh link.
func (h *Handler) createMagicLink(w http.ResponseWriter, r *http.Request) {
	rawKey, single := singleHeader(r, headerAPIKey)
	key, ok := h.findAPIKey(rawKey)
	if !ok || !single {
		h.partnerError(w, r, newAPIError(http.StatusUnauthorized, codeUnauthorized, "X-Api-Key is missing or not valid"))
		return
	}
	ctx := r.Context()
	if err := h.core.Limit(ctx, "apikey", h.core.CreatePerAPIKey, key.id); err != nil {
		h.partnerError(w, r, fromError(err))
		return
	}
	f, aerr := decodeJSON(w, r)
	if aerr != nil {
		h.partnerError(w, r, aerr)
		return
	}
	req, aerr := parsePartnerRequest(f)
	if aerr != nil {
		h.partnerError(w, r, aerr)
		return
	}

	secret, single := singleHeader(r, headerUserSecretKey)
	if !single {
		h.partnerError(w, r, newAPIError(http.StatusUnauthorized, codeUnauthorized, "send X-User-Secret-Key once"))
		return
	}
	u, err := h.core.Store.UserByEmail(ctx, key.orgID, req.email)
	switch {
	case err == nil:
	case errors.Is(err, store.ErrNotFound):
		u = nil
	default:
		h.partnerError(w, r, storeFailure(err))
		return
	}

	if secret != "" {
		// Compare against a zero digest even without a user, so the answer
		// takes as long for an unknown address as for a wrong key.
		var want store.Digest
		if u != nil {
			want = u.SecretKeyDigest
		}
		got := sha256.Sum256([]byte(secret))
		if subtle.ConstantTimeCompare(got[:], want[:]) != 1 || u == nil || want.IsZero() {
			h.partnerError(w, r, newAPIError(http.StatusUnauthorized, codeUnauthorized, "X-User-Secret-Key is not valid for this user"))
			return
		}
		link, err := h.svc.CreateLink(ctx, magiclink.LinkRequest{Email: u.Email, Origin: key.origin, Next: key.next, OrgID: key.orgID, UserID: u.ID})
		if err != nil {
			h.partnerError(w, r, fromError(err))
			return
		}
		writePartnerLink(w, link.URL, nil)
		return
	}

	if u != nil {
		h.partnerError(w, r, newAPIError(http.StatusConflict, "CONFLICT",
			"a user with this email already exists; send X-User-Secret-Key to get a link"))
		return
	}
	var raw [secretKeyLen]byte
	_, _ = rand.Read(raw[:]) // crypto/rand.Read never fails (Go ≥ 1.24).
	newSecret := base64.StdEncoding.EncodeToString(raw[:])
	user := &store.User{ID: randid.New("usr_"), OrgID: key.orgID, Email: req.email, FirstName: req.firstName, LastName: req.lastName,
		Phone: req.phone, LanguageCode: req.languageCode, MailPermission: req.mailPermission,
		SecretKeyDigest: store.Digest(sha256.Sum256([]byte(newSecret))), CreatedAt: h.core.Now()}
	// The link is issued before the user is stored: if issuing fails,
	// nothing was created and the partner can simply retry, whereas a user
	// stored without its key ever reaching the partner would be locked out
	// (409 forever). A link whose user then fails to be created is never
	// returned and expires unused.
	link, err := h.svc.CreateLink(ctx, magiclink.LinkRequest{Email: req.email, Origin: key.origin, Next: key.next, OrgID: key.orgID, UserID: user.ID})
	if err != nil {
		h.partnerError(w, r, fromError(err))
		return
	}
	if err := h.core.Store.CreateUser(ctx, user); err != nil {
		if errors.Is(err, store.ErrExists) {
			h.partnerError(w, r, newAPIError(http.StatusConflict, "CONFLICT",
				"a user with this email already exists; send X-User-Secret-Key to get a link"))
			return
		}
		h.partnerError(w, r, storeFailure(err))
		return
	}
	h.log.InfoContext(ctx, "httpadapter: partner user created", "api_key", key.id, "email", mask.Address(req.email))
	writePartnerLink(w, link.URL, &newSecret)
}

// storeFailure maps an error from the store itself (not through the
// Service) to 503.
func storeFailure(err error) *apiError {
	if errors.Is(err, store.ErrUnavailable) || errors.Is(err, store.ErrFull) {
		return fromError(&magiclink.Error{Code: codeStoreUnavailable, Message: "store unavailable", RetryAfter: time.Second, Err: err})
	}
	return fromError(err)
}

// parsePartnerRequest checks the six required members of seed 002.
func parsePartnerRequest(f jsonFields) (partnerRequest, *apiError) {
	var req partnerRequest
	var issues []issue
	str := func(name string) (string, bool) {
		s, k := f.str(name)
		switch k {
		case fieldMissing:
			issues = append(issues, issue{name, name + " is required"})
			return "", false
		case fieldWrongType:
			issues = append(issues, issue{name, name + " must be a string"})
			return "", false
		}
		return s, true
	}
	name := func(field string) string {
		s, ok := str(field)
		if !ok {
			return ""
		}
		// Checked before trimming: "Kaan\r\n" is an injection attempt,
		// not a name with trailing space.
		if hasControl(s) {
			issues = append(issues, issue{field, field + " must not contain control characters or line separators"})
			return ""
		}
		s = strings.TrimSpace(s)
		switch {
		case s == "":
			issues = append(issues, issue{field, field + " must not be empty"})
		case utf8.RuneCountInString(s) > maxNameLen:
			issues = append(issues, issue{field, field + " must be at most 100 characters"})
		}
		return s
	}
	req.firstName = name("firstName")
	req.lastName = name("lastName")
	if s, ok := str("email"); ok {
		email, err := magiclink.NormalizeEmail(s)
		if err != nil {
			issues = append(issues, issue{"email", fromError(err).message})
		}
		req.email = email
	}
	if s, ok := str("phone"); ok {
		if !validE164(s) {
			issues = append(issues, issue{"phone", "phone must be in E.164 format, such as +905555555555"})
		}
		req.phone = s
	}
	if s, ok := str("languageCode"); ok {
		if !validLanguageTag(s) {
			issues = append(issues, issue{"languageCode", "languageCode must be a BCP 47 language tag, such as tr-TR or en"})
		}
		req.languageCode = s
	}
	switch b, k := f.boolean("mailPermission"); k {
	case fieldMissing:
		issues = append(issues, issue{"mailPermission", "mailPermission is required"})
	case fieldWrongType:
		issues = append(issues, issue{"mailPermission", "mailPermission must be a boolean"})
	default:
		req.mailPermission = b
	}
	if len(issues) > 0 {
		msgs := make([]string, len(issues))
		for i, is := range issues {
			msgs[i] = is.Message
		}
		e := validation(issues...)
		e.message = strings.Join(msgs, "; ")
		return req, e
	}
	return req, nil
}

// validE164 matches ^\+[1-9]\d{6,14}$.
func validE164(s string) bool {
	if len(s) < 8 || len(s) > 16 || s[0] != '+' || s[1] < '1' || s[1] > '9' {
		return false
	}
	for i := 2; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}
