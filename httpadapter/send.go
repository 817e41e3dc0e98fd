package httpadapter

import (
	"net/http"
	"strings"

	"github.com/magiclink-go/magiclink"
)

// headerCallbackOrigin is send-magic-link's header for the callback
// origin, as the contract spells it; headerCallbackOriginKey is its
// canonical form, which http.Header looks up without converting.
const (
	headerCallbackOrigin    = "X-AppHandoff-Callback-Origin"
	headerCallbackOriginKey = "X-Apphandoff-Callback-Origin"
)

// sendMagicLink serves POST /auth/send-magic-link.
//
// It answers 200 {"ok":true} for every syntactically valid address, known
// or not, so the endpoint cannot be used to find out who has an account.
//
// A form post (the "send a new link" button of the pages) is answered with
// a page instead; see sendForm.
func (h *Handler) sendMagicLink(w http.ResponseWriter, r *http.Request) {
	if isMediaType(r, "application/x-www-form-urlencoded") {
		h.sendForm(w, r)
		return
	}
	b, aerr := h.decodeSendBody(w, r)
	if aerr != nil {
		h.portalError(w, r, aerr)
		return
	}
	var issues []issue
	email := b.email.s
	switch b.email.kind {
	case fieldMissing:
		issues = append(issues, issue{"email", "email is required"})
	case fieldWrongType:
		issues = append(issues, issue{"email", "email must be a string"})
	default:
		if _, err := magiclink.NormalizeEmail(email); err != nil {
			issues = append(issues, issue{"email", fromError(err).message})
		}
	}
	bodyOrigin := b.callbackOrigin.s
	issues = stringIssue(issues, "callback_origin", b.callbackOrigin.kind, false)
	next := b.callbackNext.s
	issues = stringIssue(issues, "callback_next", b.callbackNext.kind, false)
	locale := b.locale.s
	switch {
	case b.locale.kind == fieldWrongType:
		issues = append(issues, issue{"locale", "locale must be a string"})
	case b.locale.kind == fieldOK && locale != "" && !validLanguageTag(locale):
		issues = append(issues, issue{"locale", "locale must be a language tag such as \"en\" or \"tr-TR\""})
	}
	if len(issues) > 0 {
		h.portalError(w, r, validation(issues...))
		return
	}

	origin, aerr := h.callbackOrigin(r, bodyOrigin)
	if aerr != nil {
		h.portalError(w, r, aerr)
		return
	}
	if locale == "" {
		locale = acceptLanguage(header(r, "Accept-Language"))
	}
	ip, aerr := h.clientIP(r)
	if aerr != nil {
		h.portalError(w, r, aerr)
		return
	}
	// Every send gets a pending request, known address or not, so the
	// answer is the same for both; a client without cookies ignores it.
	ticket, err := h.svc.SendLinkPending(r.Context(), magiclink.SendRequest{
		Email: email, CallbackOrigin: origin, Next: relativeNext(next), Locale: locale, ClientIP: ip,
	}, header(r, "User-Agent"))
	if err != nil {
		h.portalError(w, r, fromError(err))
		return
	}
	if ticket != nil {
		h.SetPendingCookie(w, r, ticket)
	}
	writeJSONString(w, http.StatusOK, okJSON)
}

// callbackOrigin picks the callback origin in the order its document gives: body
// callback_origin, X-AppHandoff-Callback-Origin, Origin, Referer. The first
// one present decides: a present but disallowed value is an error, never a
// reason to try the next source, so an attacker cannot steer the choice by
// sending a bad value in front of a good one. Empty values count as absent.
func (h *Handler) callbackOrigin(r *http.Request, bodyOrigin string) (string, *apiError) {
	fields := [...]string{"callback_origin", headerCallbackOrigin, "Origin", "Referer"}
	for i, field := range fields {
		// Each source is read only when the ones before it are absent.
		var value string
		switch i {
		case 0:
			value = bodyOrigin
		case 1:
			value = header(r, headerCallbackOriginKey)
		case 2:
			value = header(r, "Origin")
		default:
			value = header(r, "Referer")
		}
		if value == "" {
			continue
		}
		if field == "Referer" {
			o, ok := magiclink.OriginOf(value)
			if !ok {
				return "", originNotAllowed(field, "the Referer is not an http(s) URL with an allowed origin")
			}
			value = o
		}
		canon, ok := h.core.Allow(value)
		if !ok {
			return "", originNotAllowed(field, field+" is not an allowed origin")
		}
		return canon, nil
	}
	return "", originNotAllowed("callback_origin",
		"a callback origin is required: send callback_origin, "+headerCallbackOrigin+", Origin or Referer")
}

func originNotAllowed(field, msg string) *apiError {
	e := newAPIError(http.StatusBadRequest, codeOriginNotAllowed, msg)
	e.issues = []issue{{Path: field, Message: msg}}
	return e
}

// relativeNext reads a next without a leading slash, such as the send-magic-link document's own
// example "example", as relative to the root ("/example"). Only a bare
// relative path gets the slash — anything that could be a scheme, host or
// other trick ("//", "\", "https:", "?", "#") is passed on unchanged for
// the Service to judge, and the result is still checked by SafeNext.
func relativeNext(next string) string {
	if next == "" || strings.Contains(next, "://") {
		return next
	}
	c := next[0]
	if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '_' || c == '-' || c == '~') {
		return next
	}
	// A colon before the first "/" would make "/"+next look harmless while
	// the original reads as a scheme ("javascript:…"); refuse to guess.
	firstSeg, _, _ := strings.Cut(next, "/")
	if strings.ContainsAny(firstSeg, ":") {
		return next
	}
	return "/" + next
}

// validLanguageTag accepts the shape of a BCP 47 tag: 1–8 letter primary
// subtag, then 1–8 alphanumeric subtags, at most 35 bytes. The mailer falls
// back to English for tags it has no template for.
func validLanguageTag(s string) bool {
	if len(s) == 0 || len(s) > 35 {
		return false
	}
	i := 0
	for sub := range strings.SplitSeq(s, "-") {
		if len(sub) == 0 || len(sub) > 8 {
			return false
		}
		for j := 0; j < len(sub); j++ {
			c := sub[j]
			letter := 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z'
			if !(letter || (i > 0 && '0' <= c && c <= '9')) {
				return false
			}
		}
		i++
	}
	return true
}

// acceptLanguage returns the first usable tag of an Accept-Language header.
// Browsers list the preferred language first, so q-values are not sorted.
func acceptLanguage(h string) string {
	if len(h) > 512 {
		h = h[:512]
	}
	for part := range strings.SplitSeq(h, ",") {
		tag, _, _ := strings.Cut(part, ";")
		tag = strings.TrimSpace(tag)
		if tag != "*" && validLanguageTag(tag) {
			return tag
		}
	}
	return ""
}
