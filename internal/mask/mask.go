// Package mask is the one way this module writes an e-mail address into a
// log: enough to recognise it, not enough to harvest it; and the one way a
// failed delivery's error text is made fit for a log, without the
// recipient's address, the link or the code.
package mask

import "strings"

// Address hides most of an e-mail address: "jane@example.com" becomes
// "j***@example.com". Anything that is not an address becomes "***".
func Address(addr string) string {
	at := strings.LastIndexByte(addr, '@')
	if at <= 0 || at == len(addr)-1 || strings.ContainsFunc(addr, isControl) {
		return "***"
	}
	first := addr[:1]
	if first[0] >= 0x80 { // keep whole runes only
		first = ""
	}
	return first + "***@" + addr[at+1:]
}

func isControl(r rune) bool { return r < 0x20 || r == 0x7f }
