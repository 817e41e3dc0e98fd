package httpadapter

import (
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"net/http"
	"strings"
	"unicode/utf8"

	"github.com/magiclink-go/magiclink"
)

// Headers of POST /api/v1/Auth/CreateMagicLink.
const (
	headerAPIKey        = "X-Api-Key"
	headerUserSecretKey = "X-User-Secret-Key"
)

// maxNameLen bounds firstName and lastName, in characters.
const maxNameLen = 100

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

// partnerRequest is the validated CreateMagicLink body.
type partnerRequest struct {
	email   string
	profile magiclink.PartnerProfile
}

// createMagicLink serves POST /api/v1/Auth/CreateMagicLink: it checks the
// API key and the body and hands them to Service.CreatePartnerLink, which
// registers a new user (returning its SecretKey once) or, with
// X-User-Secret-Key, links a known one.
func (h *Handler) createMagicLink(w http.ResponseWriter, r *http.Request) {
	rawKey, single := singleHeader(r, headerAPIKey)
	key, ok := h.findAPIKey(rawKey)
	if !ok || !single {
		h.partnerError(w, r, newAPIError(http.StatusUnauthorized, codeUnauthorized, "X-Api-Key is missing or not valid"))
		return
	}
	ctx := r.Context()
	if err := h.core.Limit(ctx, "api_key", h.core.CreatePerAPIKey, key.id); err != nil {
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
	res, err := h.svc.CreatePartnerLink(ctx, magiclink.PartnerLinkRequest{
		OrgID: key.orgID, Origin: key.origin, Next: key.next, Email: req.email, SecretKey: secret, Profile: req.profile,
	})
	if err != nil {
		h.partnerError(w, r, partnerFailure(err))
		return
	}
	if res.SecretKey == "" {
		writePartnerLink(w, res.Link.URL, nil)
		return
	}
	writePartnerLink(w, res.Link.URL, &res.SecretKey)
}

// partnerFailure maps CreatePartnerLink's own errors to their statuses:
// 401 for a secret key that does not match, 409 for a known address.
func partnerFailure(err error) *apiError {
	switch {
	case errors.Is(err, magiclink.ErrSecretKeyInvalid):
		return newAPIError(http.StatusUnauthorized, codeUnauthorized, "X-User-Secret-Key is not valid for this user")
	case errors.Is(err, magiclink.ErrUserExists):
		return newAPIError(http.StatusConflict, "CONFLICT", "a user with this email already exists; send X-User-Secret-Key to get a link")
	}
	return fromError(err)
}

// parsePartnerRequest checks the six required members of the
// CreateMagicLink body.
func parsePartnerRequest(f jsonFields) (partnerRequest, *apiError) {
	var req partnerRequest
	var issues []issue
	str := func(name string) (string, bool) {
		s, k := f.str(name)
		issues = stringIssue(issues, name, k, true)
		return s, k == fieldOK
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
	req.profile.FirstName = name("firstName")
	req.profile.LastName = name("lastName")
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
		req.profile.Phone = s
	}
	if s, ok := str("languageCode"); ok {
		if !validLanguageTag(s) {
			issues = append(issues, issue{"languageCode", "languageCode must be a BCP 47 language tag, such as tr-TR or en"})
		}
		req.profile.LanguageCode = s
	}
	switch b, k := f.boolean("mailPermission"); k {
	case fieldMissing:
		issues = append(issues, issue{"mailPermission", "mailPermission is required"})
	case fieldWrongType:
		issues = append(issues, issue{"mailPermission", "mailPermission must be a boolean"})
	default:
		req.profile.MailPermission = b
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
