package ui

import (
	"bytes"
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"github.com/stretchr/testify/require"

	"github.com/dbfleet/terraform-provider-dbfleet/backend/store"
)

const sessionTestToken = "dbf_read_token_for_session_tests_0123456789ab"

var csrfInPage = regexp.MustCompile(`name="csrf_token" value="([0-9a-f]+)"`)

func hashOf(token string) string {
	sum := sha256.Sum256([]byte(token))
	return hex.EncodeToString(sum[:])
}

// storeAuth takes the tokens of a store, as the API server does.
type storeAuth struct{ st store.Store }

func (a storeAuth) AuthenticateToken(_ http.ResponseWriter, r *http.Request, token string) (*store.Token, error) {
	return a.st.TokenGetByHash(r.Context(), hashOf(token))
}

func (storeAuth) ScopeAllows(scope, need string) bool {
	return scope == scopeAdmin || need == scopeRead
}

type sessionBundle struct {
	store store.Store
	key   []byte
	start time.Time
}

// setupSessions makes a store holding one read token, and a secret key.
func setupSessions(t *testing.T) *sessionBundle {
	t.Helper()
	ctx := context.Background()
	st, err := store.OpenSQLite(ctx, filepath.Join(t.TempDir(), "state.db"), store.Options{})
	require.NoError(t, err)
	t.Cleanup(func() { _ = st.Close() })
	start := time.Date(2026, 3, 4, 5, 6, 7, 0, time.UTC)
	require.NoError(t, st.InTx(ctx, func(ctx context.Context, tx store.Tx) error {
		return tx.TokenPut(ctx, &store.Token{Name: "viewer", Hash: hashOf(sessionTestToken), Scope: scopeRead, CreatedAt: start})
	}))
	return &sessionBundle{store: st, key: bytes.Repeat([]byte{7}, 32), start: start}
}

// node is one dbfleetd node's dashboard: the bundle's store, key and a
// clock at offset from the start.
func (b *sessionBundle) node(key []byte, offset time.Duration) *Handler {
	return New(Config{Store: b.store, Auth: storeAuth{b.store}, Logger: zerolog.Nop(), SecretKey: key,
		Now: func() time.Time { return b.start.Add(offset) }})
}

func serve(h *Handler, req *http.Request) *httptest.ResponseRecorder {
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec
}

func cookieNamed(t *testing.T, rec *httptest.ResponseRecorder, name string) *http.Cookie {
	t.Helper()
	for _, c := range rec.Result().Cookies() {
		if c.Name == name {
			return c
		}
	}
	require.Failf(t, "no cookie", "the response sets no %s cookie", name)
	return nil
}

// signIn signs in at h through its login form and returns the session
// cookie's value.
func signIn(t *testing.T, h *Handler) string {
	t.Helper()
	loginCSRF := cookieNamed(t, serve(h, httptest.NewRequest(http.MethodGet, "/ui/login", nil)), loginCSRFCookie)
	form := url.Values{csrfField: {loginCSRF.Value}, "token": {sessionTestToken}, "next": {"/ui/operations"}}
	req := httptest.NewRequest(http.MethodPost, "/ui/login", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.AddCookie(loginCSRF)
	rec := serve(h, req)
	require.Equal(t, http.StatusSeeOther, rec.Code, rec.Body.String())
	return cookieNamed(t, rec, sessionCookie).Value
}

// visit asks h for the operations page with a session cookie; partial
// asks for it as a live update does.
func visit(h *Handler, value string, partial bool) *httptest.ResponseRecorder {
	req := httptest.NewRequest(http.MethodGet, "/ui/operations", nil)
	req.AddCookie(&http.Cookie{Name: sessionCookie, Value: value})
	if partial {
		req.Header.Set(partialHeader, "1")
	}
	return serve(h, req)
}

// flipByte returns value with one byte of its decoded form changed.
func flipByte(t *testing.T, value string, i int) string {
	t.Helper()
	raw, err := base64.RawURLEncoding.DecodeString(value)
	require.NoError(t, err)
	if i < 0 {
		i += len(raw)
	}
	raw[i] ^= 0x01
	return base64.RawURLEncoding.EncodeToString(raw)
}

// sealWith seals a live session of the test token under label for cookie
// name, as a node would that used them.
func (b *sessionBundle) sealWith(t *testing.T, label, name string) string {
	t.Helper()
	sealer, err := newSessionSealer(b.key, label)
	require.NoError(t, err)
	return sealer.seal(&session{tokenHash: hashOf(sessionTestToken), expires: b.start.Add(time.Hour)}, name)
}

func TestSessionCookie(t *testing.T) {
	t.Parallel()
	b := setupSessions(t)
	nodeA := b.node(b.key, 0)
	cookie := signIn(t, nodeA)
	raw, err := base64.RawURLEncoding.DecodeString(cookie)
	require.NoError(t, err)

	t.Run("OpensOnEveryNodeWithTheKeyAndNoOther", func(t *testing.T) {
		t.Parallel()
		otherKey := bytes.Repeat([]byte{8}, 32)
		for _, tc := range []struct {
			name string
			node *Handler
			want int
		}{
			{"TheNodeThatMadeIt", nodeA, http.StatusOK},
			{"AnotherNodeWithTheSameKey", b.node(b.key, time.Minute), http.StatusOK},
			{"AnotherNodeWithAnotherKey", b.node(otherKey, time.Minute), http.StatusSeeOther},
			{"JustBeforeItExpires", b.node(b.key, sessionLifetime-time.Second), http.StatusOK},
			{"AfterItExpires", b.node(b.key, sessionLifetime+time.Second), http.StatusSeeOther},
		} {
			t.Run(tc.name, func(t *testing.T) {
				t.Parallel()
				rec := visit(tc.node, cookie, false)
				require.Equal(t, tc.want, rec.Code, rec.Body.String())
			})
		}
	})

	t.Run("RefusesWhatItDidNotSealForThisCookie", func(t *testing.T) {
		t.Parallel()
		for _, tc := range []struct {
			name  string
			value string
			want  int
		}{
			// The control: sealed the way a node seals, it opens; so the
			// cases below are refused for what they change.
			{"SealedForThisCookie", b.sealWith(t, sessionKeyLabel, sessionCookie), http.StatusOK},
			{"SealedForAnotherPurpose", b.sealWith(t, "dbfleet ui other v1", sessionCookie), http.StatusSeeOther},
			{"SealedForAnotherCookie", b.sealWith(t, sessionKeyLabel, loginCSRFCookie), http.StatusSeeOther},
			{"SealedUnderTheSecretKeyItself", sealUnderKey(t, b.key, hashOf(sessionTestToken), b.start.Add(time.Hour)), http.StatusSeeOther},
			{"NonceFlipped", flipByte(t, cookie, 0), http.StatusSeeOther},
			{"CiphertextFlipped", flipByte(t, cookie, 20), http.StatusSeeOther},
			{"TagFlipped", flipByte(t, cookie, -1), http.StatusSeeOther},
			{"CutShort", cookie[:len(cookie)-4], http.StatusSeeOther},
			{"Lengthened", cookie + "AAAA", http.StatusSeeOther},
			{"Empty", "", http.StatusSeeOther},
			{"NotBase64", "not a cookie!", http.StatusSeeOther},
			{"ShorterThanANonce", "AAAA", http.StatusSeeOther},
			{"BytesOfTheRightLength", base64.RawURLEncoding.EncodeToString(bytes.Repeat([]byte{0x5a}, len(raw))), http.StatusSeeOther},
			{"HexDigits", randomHex(16), http.StatusSeeOther},
		} {
			t.Run(tc.name, func(t *testing.T) {
				t.Parallel()
				rec := visit(nodeA, tc.value, false)
				require.Equal(t, tc.want, rec.Code, rec.Body.String())
				if tc.want == http.StatusSeeOther {
					require.Equal(t, "/ui/login?next=%2Fui%2Foperations", rec.Header().Get("Location"))
					live := visit(nodeA, tc.value, true)
					require.Equal(t, http.StatusUnauthorized, live.Code, "a live update reloads into the login page")
				}
			})
		}
	})

	t.Run("HoldsNeitherTheTokenNorItsHashInClear", func(t *testing.T) {
		t.Parallel()
		hash := hashOf(sessionTestToken)
		hashBytes, err := hex.DecodeString(hash)
		require.NoError(t, err)
		for _, secret := range []string{sessionTestToken, hash, strings.ToUpper(hash), string(hashBytes)} {
			require.NotContains(t, cookie, secret)
			require.NotContains(t, string(raw), secret)
		}
		// nonce 12 + expiry 8 + CSRF token 32 + hash 64 + tag 16, in base64.
		require.Len(t, cookie, 176)
		require.NotEqual(t, cookie, signIn(t, nodeA), "each sign-in seals under a fresh nonce")
	})
}

// sealUnderKey seals a session the way a node does but under key itself,
// not the key derived from it: a cookie sealed with the password key.
func sealUnderKey(t *testing.T, key []byte, tokenHash string, expires time.Time) string {
	t.Helper()
	block, err := aes.NewCipher(key)
	require.NoError(t, err)
	aead, err := cipher.NewGCM(block)
	require.NoError(t, err)
	return (&sessionSealer{aead: aead}).seal(&session{tokenHash: tokenHash, expires: expires}, sessionCookie)
}

func TestSessionEnds(t *testing.T) {
	t.Parallel()

	t.Run("WhenItsTokenIsRevoked", func(t *testing.T) {
		t.Parallel()
		b := setupSessions(t)
		nodeA, nodeB := b.node(b.key, 0), b.node(b.key, 0)
		cookie := signIn(t, nodeA)
		require.Equal(t, http.StatusOK, visit(nodeB, cookie, false).Code)
		require.NoError(t, b.store.InTx(context.Background(), func(ctx context.Context, tx store.Tx) error {
			return tx.TokenDelete(ctx, "viewer")
		}))
		for _, node := range []*Handler{nodeA, nodeB} {
			require.Equal(t, http.StatusSeeOther, visit(node, cookie, false).Code)
		}
	})

	t.Run("AtSignOutWhichClearsTheCookie", func(t *testing.T) {
		t.Parallel()
		b := setupSessions(t)
		nodeA, nodeB := b.node(b.key, 0), b.node(b.key, 0)
		cookie := signIn(t, nodeA)
		page := visit(nodeA, cookie, false)
		require.Equal(t, http.StatusOK, page.Code)
		csrf := csrfInPage.FindStringSubmatch(page.Body.String())
		require.NotNil(t, csrf, "the page has the session's CSRF token")
		for _, tc := range []struct {
			name, csrf string
			want       int
		}{
			{"WithoutTheCSRFToken", "", http.StatusForbidden},
			{"WithAnotherCSRFToken", strings.Repeat("0", 2*csrfBytes), http.StatusForbidden},
			{"WithTheSessionsCSRFTokenOnAnotherNode", csrf[1], http.StatusSeeOther},
		} {
			req := httptest.NewRequest(http.MethodPost, "/ui/logout", strings.NewReader(url.Values{csrfField: {tc.csrf}}.Encode()))
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			req.AddCookie(&http.Cookie{Name: sessionCookie, Value: cookie})
			rec := serve(nodeB, req)
			require.Equal(t, tc.want, rec.Code, tc.name)
			if tc.want == http.StatusSeeOther {
				cleared := cookieNamed(t, rec, sessionCookie)
				require.Empty(t, cleared.Value)
				require.Negative(t, cleared.MaxAge)
				require.Equal(t, "/ui/", cleared.Path)
			}
		}
	})
}
