package magiclink

import (
	"crypto/ed25519"
	"encoding/base64"
	"encoding/json"
	"slices"
)

// jwk is one public key of a JWKS document (RFC 7517, RFC 8037 for OKP).
type jwk struct {
	Kty string `json:"kty"`
	Crv string `json:"crv"`
	Alg string `json:"alg"`
	Use string `json:"use"`
	Kid string `json:"kid"`
	X   string `json:"x"`
}

// jwksDocument is the JSON Web Key Set of the verify keys: the signing key
// first, then the rotation keys by kid, so the document is stable.
func jwksDocument(signing string, keys map[string]ed25519.PublicKey) []byte {
	kids := make([]string, 0, len(keys))
	for kid := range keys {
		if kid != signing {
			kids = append(kids, kid)
		}
	}
	slices.Sort(kids)
	kids = append([]string{signing}, kids...)
	set := struct {
		Keys []jwk `json:"keys"`
	}{Keys: make([]jwk, 0, len(kids))}
	for _, kid := range kids {
		set.Keys = append(set.Keys, jwk{Kty: "OKP", Crv: "Ed25519", Alg: "EdDSA", Use: "sig", Kid: kid,
			X: base64.RawURLEncoding.EncodeToString(keys[kid])})
	}
	b, _ := json.Marshal(set) // strings only: cannot fail
	return b
}

// JWKS returns the JSON Web Key Set (RFC 7517) of the public keys that
// verify this Service's access tokens: Ed25519 keys of type OKP, each with
// its kid, the current signing key first and the rotation keys
// (Config.SessionVerifyKeys) after it. Other services verify access tokens
// offline with it; the HTTP adapter serves it at
// /auth/.well-known/jwks.json.
func (s *Service) JWKS() []byte { return slices.Clone(s.access.jwks) }
