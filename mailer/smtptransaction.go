package mailer

import (
	"bufio"
	"bytes"
	"errors"
	"net/textproto"
	"strings"
)

// outgoing is one mail ready for the wire, built before a connection is
// taken so that a connection is held only for network I/O.
type outgoing struct {
	from, to string // envelope addresses in angle brackets, as go-mail writes them
	// data is the DATA body: dot-stuffed, CRLF line ends, ending in ".\r\n".
	data []byte
	buf  *wireBuffer // holds data; back to SMTP.wire after the send
}

// Steps of a transaction, as named in errors.
const (
	stepMail    = "MAIL FROM"
	stepRcpt    = "RCPT TO"
	stepData    = "DATA"
	stepDataEnd = "end of DATA"
)

// stepError is a failed step of a transaction: an SMTP reply
// (*textproto.Error) or a network error.
type stepError struct {
	step string
	err  error
}

func (e *stepError) Error() string { return e.step + ": " + e.err.Error() }
func (e *stepError) Unwrap() error { return e.err }

// sessionInfo is what one connection's EHLO reply says about the MAIL
// command, read once when the connection is set up.
type sessionInfo struct {
	// pipelining: the server offers PIPELINING (RFC 2920), so MAIL, RCPT
	// and DATA go out in one write and their replies are read together.
	pipelining bool
	// mailParams are appended to MAIL FROM, as go-mail sends them
	// (BODY=8BITMIME, SMTPUTF8 when offered).
	mailParams string
}

// newSessionInfo reads the extensions the server announced.
func newSessionInfo(has func(ext string) bool) sessionInfo {
	var params strings.Builder
	if has("8BITMIME") {
		params.WriteString(" BODY=8BITMIME")
	}
	if has("SMTPUTF8") {
		params.WriteString(" SMTPUTF8")
	}
	return sessionInfo{pipelining: has("PIPELINING"), mailParams: params.String()}
}

// mail runs one transaction on c: MAIL, RCPT and DATA, then the message.
// With PIPELINING that is two round trips, one write and one read each;
// without, four. The first failing step is returned; after a reply that
// refused the mail the session may need RSET (reusableAfter).
func (c *smtpConn) mail(o *outgoing) error {
	text := c.client.Text
	w := text.W
	writeCommand(w, "MAIL FROM:", o.from, c.info.mailParams)
	var err error
	if c.info.pipelining {
		writeCommand(w, "RCPT TO:", o.to, "")
		writeCommand(w, "DATA", "", "")
		err = c.pipelinedEnvelope(text)
	} else {
		err = c.lockstepEnvelope(text, o.to)
	}
	if err != nil {
		return err
	}
	if _, err := w.Write(o.data); err != nil {
		return &stepError{step: stepDataEnd, err: err}
	}
	return step(stepDataEnd, flushAndRead(text, 250))
}

// pipelinedEnvelope sends the MAIL, RCPT and DATA commands already
// buffered and reads all three replies (RFC 2920 §3.1: a client reads
// every reply of a group even after a failure). When the envelope failed
// but the server still answered DATA with 354, an empty message ends the
// data phase so that the session stays in step.
func (c *smtpConn) pipelinedEnvelope(text *textproto.Conn) error {
	if err := text.W.Flush(); err != nil {
		return &stepError{step: stepMail, err: err}
	}
	var first error
	for _, s := range [...]struct {
		name string
		code int
	}{{stepMail, 250}, {stepRcpt, 25}, {stepData, 354}} {
		_, _, err := text.ReadResponse(s.code)
		switch {
		case err == nil && s.name == stepData && first != nil:
			// 354 after a refused MAIL or RCPT: end the (empty) data;
			// any reply will do.
			_, _ = text.W.WriteString(".\r\n")
			if err := flushAndRead(text, 0); err != nil {
				return errors.Join(first, &stepError{step: stepDataEnd, err: err})
			}
		case err == nil:
		case replyCode(err) == 0 && first == nil:
			return &stepError{step: s.name, err: err}
		case replyCode(err) == 0:
			// The connection failed after a refusal: no more replies will
			// come, and the refusal is what the caller needs to see.
			return errors.Join(first, &stepError{step: s.name, err: err})
		case first == nil:
			first = &stepError{step: s.name, err: err}
		}
	}
	return first
}

// lockstepEnvelope sends MAIL (already buffered), RCPT and DATA one at a
// time, for a server without PIPELINING.
func (c *smtpConn) lockstepEnvelope(text *textproto.Conn, to string) error {
	if err := flushAndRead(text, 250); err != nil {
		return &stepError{step: stepMail, err: err}
	}
	writeCommand(text.W, "RCPT TO:", to, "")
	if err := flushAndRead(text, 25); err != nil {
		return &stepError{step: stepRcpt, err: err}
	}
	writeCommand(text.W, "DATA", "", "")
	return step(stepData, flushAndRead(text, 354))
}

// writeCommand buffers one command line, a+b+c.
func writeCommand(w *bufio.Writer, a, b, c string) {
	_, _ = w.WriteString(a)
	_, _ = w.WriteString(b)
	_, _ = w.WriteString(c)
	_, _ = w.WriteString("\r\n")
}

// flushAndRead sends what is buffered and reads one reply, expecting code
// (0 takes any reply, so that only a network error is returned).
func flushAndRead(text *textproto.Conn, code int) error {
	if err := text.W.Flush(); err != nil {
		return err
	}
	_, _, err := text.ReadResponse(code)
	return err
}

// step names the step of a failure; nil stays nil.
func step(name string, err error) error {
	if err == nil {
		return nil
	}
	return &stepError{step: name, err: err}
}

// appendData appends msg to dst as the body of a DATA command (RFC 5321
// §4.5.2): every line ends in CRLF, a line that begins with a dot gets a
// second one, and the terminating ".\r\n" follows. It does in one pass over
// lines what textproto's DotWriter does byte by byte, an empty message
// included (an empty line).
func appendData(dst, msg []byte) []byte {
	if len(msg) == 0 {
		return append(dst, "\r\n.\r\n"...)
	}
	for len(msg) > 0 {
		line := msg
		if i := bytes.IndexByte(msg, '\n'); i >= 0 {
			line, msg = msg[:i], msg[i+1:]
		} else {
			msg = nil
		}
		if n := len(line); n > 0 && line[n-1] == '\r' {
			line = line[:n-1]
		}
		if len(line) > 0 && line[0] == '.' {
			dst = append(dst, '.')
		}
		dst = append(dst, line...)
		dst = append(dst, '\r', '\n')
	}
	return append(dst, '.', '\r', '\n')
}
