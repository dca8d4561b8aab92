package api

import (
	"context"
	"crypto/subtle"
	"errors"
	"net"
	"net/http"
	"strings"

	"github.com/dbfleet/terraform-provider-dbfleet/backend/api/apiv1"
	"github.com/dbfleet/terraform-provider-dbfleet/backend/store"
)

// maxTokenLength bounds the bearer tokens looked at; tokens dbfleetd makes
// are 52 characters, configured ones are whatever the operator chose.
const maxTokenLength = 1024

// authorize authenticates r's bearer token, applies the token's rate limit
// and checks that its scope covers scope, in that order. The request it
// returns carries the principal whenever the token is valid, so that a 403
// is logged and audited under the token's name. Requests without a valid
// token are rate-limited by remote address, so that a flood of bad tokens
// can neither guess fast nor fill the audit log.
func (s *Server) authorize(w http.ResponseWriter, r *http.Request, scope string) (*http.Request, error) {
	p, err := s.authenticate(r)
	if err != nil {
		if limitErr := s.authFailureLimits.take("address "+remoteHost(r), w); limitErr != nil {
			return r, limitErr
		}
		return r, err
	}
	r = r.WithContext(context.WithValue(r.Context(), principalKey{}, p))
	if err := s.tokenLimits.take("token "+p.Name, w); err != nil {
		return r, err
	}
	if scopeRank[p.Scope] < scopeRank[scope] {
		return r, &httpError{status: http.StatusForbidden, code: apiv1.CodePermissionDenied,
			message: "token " + p.Name + " has scope " + p.Scope + "; this call needs " + scope}
	}
	return r, nil
}

// authenticate returns the token the request's Authorization header holds.
func (s *Server) authenticate(r *http.Request) (*store.Token, error) {
	scheme, token, ok := strings.Cut(r.Header.Get("Authorization"), " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") || token == "" {
		return nil, &httpError{status: http.StatusUnauthorized, code: apiv1.CodeUnauthenticated,
			message: "missing bearer token: send Authorization: Bearer <token>"}
	}
	return s.lookupToken(r.Context(), token)
}

// lookupToken returns the stored token a secret names.
func (s *Server) lookupToken(ctx context.Context, token string) (*store.Token, error) {
	invalid := &httpError{status: http.StatusUnauthorized, code: apiv1.CodeUnauthenticated, message: "the bearer token is not valid"}
	if len(token) > maxTokenLength {
		return nil, invalid
	}
	// The lookup is by hash: what the store compares is a hash the caller
	// cannot steer byte by byte, so its timing says nothing about any
	// stored token. The constant-time comparison after it keeps that true
	// whatever the store's lookup does (a collation, a prefix index).
	hash := HashToken(token)
	p, err := s.store.TokenGetByHash(ctx, hash)
	if errors.Is(err, store.ErrNotFound) {
		return nil, invalid
	}
	if err != nil {
		return nil, err
	}
	if subtle.ConstantTimeCompare([]byte(p.Hash), []byte(hash)) != 1 {
		return nil, invalid
	}
	return p, nil
}

// remoteHost is the address a request came from, without its port. It is
// the peer's address: dbfleetd trusts no forwarding header.
func remoteHost(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}
