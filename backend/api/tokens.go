package api

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"time"

	"github.com/dbfleet/terraform-provider-dbfleet/backend/store"
)

// Token scopes, each including the ones before it: read may only GET; write
// may also change databases and schemas and cancel operations; admin may
// also read the audit log (and manage tokens and regions where the API
// offers it).
const (
	scopeRead  = "read"
	scopeWrite = "write"
	scopeAdmin = "admin"
)

// Scopes lists the token scopes, weakest first.
var Scopes = []string{scopeRead, scopeWrite, scopeAdmin}

var scopeRank = map[string]int{scopeRead: 1, scopeWrite: 2, scopeAdmin: 3}

// tokenPrefix starts every token dbfleetd makes, so that secret scanners
// and people recognise one.
const tokenPrefix = "dbf_"

// tokenBytes is how much randomness a token carries: 192 bits.
const tokenBytes = 24

// HashToken is how tokens are stored: the hex SHA-256 of the token.
//
// A fast hash is right here, unlike for passwords: a token is 192 random
// bits, not something a person chose, so there is no dictionary to try and
// a brute-force preimage search is out of reach whatever the hash costs. A
// slow hash (bcrypt, argon2) would only buy the attacker nothing and cost
// every request; and a deterministic hash lets the store look a token up by
// an index instead of trying every row.
func HashToken(token string) string {
	sum := sha256.Sum256([]byte(token))
	return hex.EncodeToString(sum[:])
}

// NewToken returns a new random token: "dbf_" and 48 hex digits.
func NewToken() (string, error) {
	raw := make([]byte, tokenBytes)
	if _, err := rand.Read(raw); err != nil {
		return "", fmt.Errorf("generate token: %w", err)
	}
	return tokenPrefix + hex.EncodeToString(raw), nil
}

var tokenNamePattern = regexp.MustCompile(`^[a-z0-9][a-z0-9._-]{0,62}$`)

// ValidateTokenName checks a token's name: a lower-case letter or digit,
// then up to 62 lower-case letters, digits, '.', '_' or '-'. Names appear
// in logs and the audit log, so they are kept plain.
func ValidateTokenName(name string) error {
	if !tokenNamePattern.MatchString(name) {
		return fmt.Errorf("token name %q is not valid; use a lower-case letter or digit followed by up to 62 lower-case letters, digits, '.', '_' or '-'", truncate(name, 80))
	}
	return nil
}

// ValidateScope checks that scope is one of Scopes.
func ValidateScope(scope string) error {
	if !slices.Contains(Scopes, scope) {
		return fmt.Errorf("scope %q is not valid; use one of %v", truncate(scope, 80), Scopes)
	}
	return nil
}

// ErrTokenExists is returned by TokenCreate for a name already in use.
var ErrTokenExists = errors.New("a token with this name already exists")

// TokenCreate stores a new token with a name and scope and returns its
// value, which only its hash is kept of: the caller shows it once. An empty
// name becomes the scope and a random suffix.
func TokenCreate(ctx context.Context, st store.Store, name, scope string) (storedName, token string, err error) {
	if err := ValidateScope(scope); err != nil {
		return "", "", err
	}
	if token, err = NewToken(); err != nil {
		return "", "", err
	}
	if name == "" {
		// The suffix comes from the hash, not the token: a name is public.
		name = scope + "-" + HashToken(token)[:8]
	}
	if err := ValidateTokenName(name); err != nil {
		return "", "", err
	}
	err = st.InTx(ctx, func(ctx context.Context, tx store.Tx) error {
		existing, err := tx.TokenList(ctx)
		if err != nil {
			return err
		}
		if slices.ContainsFunc(existing, func(t *store.Token) bool { return t.Name == name }) {
			return fmt.Errorf("token %s: %w; revoke it first or choose another --name", name, ErrTokenExists)
		}
		return tx.TokenPut(ctx, &store.Token{Name: name, Hash: HashToken(token), Scope: scope, CreatedAt: time.Now().UTC().Truncate(time.Microsecond)})
	})
	if err != nil {
		return "", "", err
	}
	return name, token, nil
}

// TokenRevoke deletes the token name: requests carrying it fail from then
// on. A name that does not exist is an error matching store.ErrNotFound.
func TokenRevoke(ctx context.Context, st store.Store, name string) error {
	return st.InTx(ctx, func(ctx context.Context, tx store.Tx) error { return tx.TokenDelete(ctx, name) })
}

// truncate shortens s to n bytes for an error message.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}
