package api

import (
	"net/http"

	"github.com/dbfleet/terraform-provider-dbfleet/backend/store"
)

// AuthenticateToken checks a token given to the web dashboard's sign-in
// form the way a bearer token is checked. Failures count against the same
// per-address limit as the API's; once it is spent, Retry-After is set on w
// and the error is a 429's. It implements ui.Authenticator.
func (s *Server) AuthenticateToken(w http.ResponseWriter, r *http.Request, token string) (*store.Token, error) {
	p, err := s.lookupToken(r.Context(), token)
	if err != nil {
		if limitErr := s.authFailureLimits.take("address "+remoteHost(r), w); limitErr != nil {
			return nil, limitErr
		}
		return nil, err
	}
	return p, nil
}

// ScopeAllows tells whether a token of scope may do what need allows. It
// implements ui.Authenticator.
func (s *Server) ScopeAllows(scope, need string) bool { return scopeRank[scope] >= scopeRank[need] }
