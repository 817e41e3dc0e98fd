package httpadapter

import (
	"context"
	"net/http"
)

// exchange is what wrap allocates for a request, in one piece: the
// response recorder, the context that carries the request ID, and the
// backing of the header values every answer sets. One allocation instead
// of five keeps the cheapest endpoints cheap.
type exchange struct {
	responseRecorder
	ctx requestContext
	// hdr backs X-Request-Id, Cache-Control, Content-Type,
	// X-Content-Type-Options and a browser send's Set-Cookie; each slice
	// handed out has capacity 1, so an Add by a later handler copies
	// instead of writing here.
	hdr [5]string
}

// setHeader sets the header key (canonical) to value, using the i-th
// backing slot.
func (x *exchange) setHeader(i int, key, value string) {
	x.hdr[i] = value
	x.Header()[key] = x.hdr[i : i+1 : i+1]
}

// addHeader adds value to the header key (canonical), using the i-th
// backing slot when key has no value yet.
func (x *exchange) addHeader(i int, key, value string) {
	if h := x.Header(); len(h[key]) > 0 {
		h[key] = append(h[key], value)
		return
	}
	x.setHeader(i, key, value)
}

// setJSONHeaders sets the headers of a JSON answer on w, through its
// exchange when it is one.
func setJSONHeaders(w http.ResponseWriter) {
	const contentType, noSniff = "application/json; charset=utf-8", "nosniff"
	if x, ok := w.(*exchange); ok {
		x.setHeader(2, "Content-Type", contentType)
		x.setHeader(3, "X-Content-Type-Options", noSniff)
		return
	}
	w.Header().Set("Content-Type", contentType)
	w.Header().Set("X-Content-Type-Options", noSniff)
}

// requestContext is its parent with the request ID added, as
// context.WithValue would, without an allocation of its own.
type requestContext struct {
	context.Context
	id string
}

// Value answers requestIDKey with a *string (which, unlike a string, fits
// in an interface without an allocation) and asks the parent otherwise.
func (c *requestContext) Value(key any) any {
	if _, ok := key.(requestIDKey); ok {
		return &c.id
	}
	return c.Context.Value(key)
}
