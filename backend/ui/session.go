package ui

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/dbfleet/terraform-provider-dbfleet/backend/store"
)

// Cookie names. The session cookie holds the session itself, sealed (see
// sessionSealer): no node keeps sessions, so any node serves any request
// and a restart signs nobody out.
const (
	sessionCookie    = "dbfleet_session"
	loginCSRFCookie  = "dbfleet_login_csrf"
	csrfField        = "csrf_token"
	sessionLifetime  = 12 * time.Hour
	partialHeader    = "X-Dbfleet-Partial"
	maxLoginBodySize = 8 << 10
)

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b) // crypto/rand.Read never fails (Go 1.24+)
	return hex.EncodeToString(b)
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
		csrf := hex.EncodeToString(sess.csrf[:])
		v := &viewer{Name: token.Name, Scope: token.Scope, CSRF: csrf, CanResume: h.auth.ScopeAllows(token.Scope, scopeAdmin)}
		r = r.WithContext(context.WithValue(r.Context(), viewerKey{}, v))
		if !h.auth.ScopeAllows(token.Scope, scope) {
			h.renderError(w, r, http.StatusForbidden, "Token "+token.Name+" has scope "+token.Scope+"; this needs "+scope+".")
			return
		}
		if r.Method == http.MethodPost && !validCSRF(r, csrf) {
			h.renderError(w, r, http.StatusForbidden, "The form's security token is missing or stale; reload the page and try again.")
			return
		}
		next(w, r)
	}
}

// sessionOf returns the request's session and its token, or nil when there
// is none, its cookie does not open, it expired, or its token was revoked.
func (h *Handler) sessionOf(r *http.Request) (*session, *store.Token, error) {
	c, noCookie := r.Cookie(sessionCookie)
	if noCookie != nil || c.Value == "" {
		return nil, nil, nil //nolint:nilerr // no cookie is no session, not a failure
	}
	sess, badCookie := h.sealer.open(c.Value, sessionCookie)
	if badCookie != nil || h.now().After(sess.expires) {
		return nil, nil, nil //nolint:nilerr // a cookie that does not open is no session, not a failure
	}
	token, err := h.store.TokenGetByHash(r.Context(), sess.tokenHash)
	if errors.Is(err, store.ErrNotFound) {
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
	sess := &session{tokenHash: token.Hash, expires: h.now().Add(sessionLifetime)}
	_, _ = rand.Read(sess.csrf[:]) // crypto/rand.Read never fails (Go 1.24+)
	setCookie(w, r, sessionCookie, h.sealer.seal(sess, sessionCookie), sessionLifetime)
	clearCookie(w, r, loginCSRFCookie)
	h.logger.Info().Str("token", token.Name).Msg("Signed in to the dashboard")
	http.Redirect(w, r, safeNext(r.PostFormValue("next")), http.StatusSeeOther)
}

// logout clears the session cookie. Nothing on the server remembers the
// session, so a copy of the cookie taken before stays valid until it
// expires or its token is revoked.
func (h *Handler) logout(w http.ResponseWriter, r *http.Request) {
	clearCookie(w, r, sessionCookie)
	http.Redirect(w, r, "/ui/login", http.StatusSeeOther)
}
