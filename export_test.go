package magiclink

// Unexported helpers the external tests check directly. This file is
// compiled into this package's tests only, so none of it is public API.
var (
	IPKey           = ipKey
	WellFormedToken = wellFormedToken
	Mailbox         = mailbox
)
