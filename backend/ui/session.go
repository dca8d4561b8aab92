package ui

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/dbfleet/terraform-provider-dbfleet/backend/store"
)

// Cookie names. The session cookie holds a random session id, never the
// token: the token's hash stays on the server, in the session.
const (
	sessionCookie    = "dbfleet_session"
	loginCSRFCookie  = "dbfleet_login_csrf"
	csrfField        = "csrf_token"
	sessionLifetime  = 12 * time.Hour
	maxSessions      = 10000
	sessionIDBytes   = 32
	partialHeader    = "X-Dbfleet-Partial"
	maxLoginBodySize = 8 << 10
)

// session is a signed-in browser: which token it signed in with (by hash,
// so a revoked token ends the session at its next request) and the CSRF
// token its forms carry.
type session struct {
	tokenHash string
	csrf      string
	expires   time.Time
}

// sessions are kept in memory, keyed by the SHA-256 of the session id so
// that the map holds nothing a cookie could be rebuilt from. A restart
// signs everyone out, which is acceptable for a dashboard.
type sessions struct {
	now func() time.Time
	mu  sync.Mutex
	m   map[string]*session
}

func newSessions(now func() time.Time) *sessions {
	return &sessions{now: now, m: map[string]*session{}}
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b) // crypto/rand.Read never fails (Go 1.24+)
	return hex.EncodeToString(b)
}

func sessionKey(id string) string {
	sum := sha256.Sum256([]byte(id))
	return hex.EncodeToString(sum[:])
}

// create starts a session for a token and returns its id.
func (s *sessions) create(tokenHash string) (string, *session) {
	id := randomHex(sessionIDBytes)
	now := s.now()
	sess := &session{tokenHash: tokenHash, csrf: randomHex(sessionIDBytes), expires: now.Add(sessionLifetime)}
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.m) >= maxSessions {
		for k, old := range s.m {
			if now.After(old.expires) {
				delete(s.m, k)
			}
		}
	}
	if len(s.m) >= maxSessions {
		// Full of live sessions: drop an arbitrary one rather than grow
		// without bound; its owner signs in again.
		for k := range s.m {
			delete(s.m, k)
			break
		}
	}
	s.m[sessionKey(id)] = sess
	return id, sess
}

func (s *sessions) get(id string) *session {
	s.mu.Lock()
	defer s.mu.Unlock()
	sess, ok := s.m[sessionKey(id)]
	if !ok {
		return nil
	}
	if s.now().After(sess.expires) {
		delete(s.m, sessionKey(id))
		return nil
	}
	return sess
}

func (s *sessions) delete(id string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.m, sessionKey(id))
}

// viewer is who is looking: the token's name and scope, and the session's
// CSRF token for the page's forms.
type viewer struct {
	Name  string
	Scope string
	CSRF  string
	// CanResume: the token may resume rollouts here.
	CanResume bool
}

type viewerKey struct{}

func viewerFrom(ctx context.Context) *viewer {
	v, _ := ctx.Value(viewerKey{}).(*viewer)
	return v
}

// signedIn serves next to a signed-in session whose token (still valid)
// has at least scope; others go to the login page, or get 403.
func (h *Handler) signedIn(scope string, next http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		sess, token, err := h.sessionOf(r)
		if err != nil {
			h.logger.Error().Err(err).Msg("Could not read the session's token")
			h.renderError(w, r, http.StatusInternalServerError, "The state store could not be read; try again.")
			return
		}
		if sess == nil {
			if r.Method != http.MethodGet || r.Header.Get(partialHeader) != "" {
				// A live update or a form post without a session: the page
				// reloads into the login page itself.
				h.renderError(w, r, http.StatusUnauthorized, "Your session ended; sign in again.")
				return
			}
			http.Redirect(w, r, "/ui/login?next="+url.QueryEscape(r.URL.RequestURI()), http.StatusSeeOther)
			return
		}
		v := &viewer{Name: token.Name, Scope: token.Scope, CSRF: sess.csrf, CanResume: h.auth.ScopeAllows(token.Scope, scopeAdmin)}
		r = r.WithContext(context.WithValue(r.Context(), viewerKey{}, v))
		if !h.auth.ScopeAllows(token.Scope, scope) {
			h.renderError(w, r, http.StatusForbidden, "Token "+token.Name+" has scope "+token.Scope+"; this needs "+scope+".")
			return
		}
		if r.Method == http.MethodPost && !validCSRF(r, sess.csrf) {
			h.renderError(w, r, http.StatusForbidden, "The form's security token is missing or stale; reload the page and try again.")
			return
		}
		next(w, r)
	}
}

// sessionOf returns the request's session and its token, or nil when there
// is none, it expired, or its token was revoked.
func (h *Handler) sessionOf(r *http.Request) (*session, *store.Token, error) {
	c, noCookie := r.Cookie(sessionCookie)
	if noCookie != nil || c.Value == "" {
		return nil, nil, nil //nolint:nilerr // no cookie is no session, not a failure
	}
	sess := h.sessions.get(c.Value)
	if sess == nil {
		return nil, nil, nil
	}
	token, err := h.store.TokenGetByHash(r.Context(), sess.tokenHash)
	if errors.Is(err, store.ErrNotFound) {
		h.sessions.delete(c.Value)
		return nil, nil, nil
	}
	if err != nil {
		return nil, nil, err
	}
	return sess, token, nil
}

// validCSRF compares the form's CSRF token with the session's in constant
// time (the synchronizer token pattern).
func validCSRF(r *http.Request, want string) bool {
	got := r.PostFormValue(csrfField)
	return got != "" && subtle.ConstantTimeCompare([]byte(got), []byte(want)) == 1
}

func setCookie(w http.ResponseWriter, r *http.Request, name, value string, maxAge time.Duration) {
	http.SetCookie(w, &http.Cookie{
		Name: name, Value: value, Path: "/ui/", MaxAge: int(maxAge.Seconds()),
		HttpOnly: true, SameSite: http.SameSiteStrictMode, Secure: r.TLS != nil,
	})
}

func clearCookie(w http.ResponseWriter, r *http.Request, name string) {
	http.SetCookie(w, &http.Cookie{Name: name, Value: "", Path: "/ui/", MaxAge: -1,
		HttpOnly: true, SameSite: http.SameSiteStrictMode, Secure: r.TLS != nil})
}

// safeNext is where to go after signing in: a dashboard path, never
// another host.
func safeNext(next string) string {
	if !strings.HasPrefix(next, "/ui/") || strings.HasPrefix(next, "//") || strings.ContainsAny(next, "\\\r\n") {
		return "/ui/"
	}
	return next
}

func (h *Handler) loginPage(w http.ResponseWriter, r *http.Request) {
	h.renderLogin(w, r, http.StatusOK, "")
}

func (h *Handler) renderLogin(w http.ResponseWriter, r *http.Request, status int, problem string) {
	// The login form's CSRF token is a double-submitted cookie: there is
	// no session yet to keep it in. It stops another site signing a
	// browser in under the attacker's token.
	csrf := randomHex(16)
	setCookie(w, r, loginCSRFCookie, csrf, time.Hour)
	h.render(w, r, status, "login", map[string]any{
		"Title": "Sign in", "CSRF": csrf, "Next": safeNext(r.FormValue("next")), "Problem": problem,
	})
}

func (h *Handler) login(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, maxLoginBodySize)
	c, err := r.Cookie(loginCSRFCookie)
	if err != nil || !validCSRF(r, c.Value) {
		h.renderLogin(w, r, http.StatusForbidden, "The sign-in form expired; try again.")
		return
	}
	token, err := h.auth.AuthenticateToken(w, r, strings.TrimSpace(r.PostFormValue("token")))
	if err != nil {
		h.logger.Info().Str("remoteAddr", r.RemoteAddr).Msg("Refused a dashboard sign-in")
		if w.Header().Get("Retry-After") != "" {
			h.renderLogin(w, r, http.StatusTooManyRequests, "Too many failed sign-ins from your address; wait a minute and try again.")
			return
		}
		h.renderLogin(w, r, http.StatusUnauthorized, "That token is not valid.")
		return
	}
	id, _ := h.sessions.create(token.Hash)
	setCookie(w, r, sessionCookie, id, sessionLifetime)
	clearCookie(w, r, loginCSRFCookie)
	h.logger.Info().Str("token", token.Name).Msg("Signed in to the dashboard")
	http.Redirect(w, r, safeNext(r.PostFormValue("next")), http.StatusSeeOther)
}

func (h *Handler) logout(w http.ResponseWriter, r *http.Request) {
	if c, err := r.Cookie(sessionCookie); err == nil {
		h.sessions.delete(c.Value)
	}
	clearCookie(w, r, sessionCookie)
	http.Redirect(w, r, "/ui/login", http.StatusSeeOther)
}
