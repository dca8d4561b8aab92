package ui

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"time"
)

// sessionKeyLabel is the HKDF purpose the session cookie key is derived
// under, so the daemon's secret key never seals a cookie itself and a
// cookie can never be opened as anything else. A new cookie format takes a
// new label: old cookies then fail to open and their owners sign in again.
const sessionKeyLabel = "dbfleet ui session v1"

// csrfBytes is the size of a session's CSRF token (64 hex digits in forms).
const csrfBytes = 32

// expiresBytes is the size of a sealed session's expiry: Unix seconds.
const expiresBytes = 8

// session is a signed-in browser: which token it signed in with (by hash,
// so a revoked token ends the session at its next request), the CSRF token
// its forms carry, and when it ends.
type session struct {
	tokenHash string
	csrf      [csrfBytes]byte
	expires   time.Time
}

// sessionSealer seals sessions into cookie values and opens them again
// with AES-256-GCM. Every node with the same secret key opens the cookies
// of every other, so sessions need no shared state and survive restarts.
type sessionSealer struct {
	aead cipher.AEAD
}

// newSessionSealer derives the cookie key from secretKey with HKDF-SHA256
// under label.
func newSessionSealer(secretKey []byte, label string) (*sessionSealer, error) {
	key, err := hkdf.Key(sha256.New, secretKey, nil, label, 32)
	if err != nil {
		return nil, fmt.Errorf("derive the session cookie key: %w", err)
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, fmt.Errorf("create the session cookie cipher: %w", err)
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, fmt.Errorf("create the session cookie AES-GCM: %w", err)
	}
	return &sessionSealer{aead: aead}, nil
}

// seal returns the value of cookie name holding sess: base64url (no
// padding) of a random nonce and the AES-GCM ciphertext of the expiry (Unix
// seconds, big-endian), the CSRF token and the token hash, with the cookie
// name as additional data so the value opens under that name alone.
func (s *sessionSealer) seal(sess *session, name string) string {
	plain := make([]byte, 0, expiresBytes+csrfBytes+len(sess.tokenHash))
	plain = binary.BigEndian.AppendUint64(plain, uint64(sess.expires.Unix())) //nolint:gosec // a Unix time after 1970
	plain = append(plain, sess.csrf[:]...)
	plain = append(plain, sess.tokenHash...)
	nonce := make([]byte, s.aead.NonceSize(), s.aead.NonceSize()+len(plain)+s.aead.Overhead())
	_, _ = rand.Read(nonce) // crypto/rand.Read never fails (Go 1.24+)
	return base64.RawURLEncoding.EncodeToString(s.aead.Seal(nonce, nonce, plain, []byte(name)))
}

// errBadSession is any cookie value that does not open: made with another
// key or for another cookie, changed, cut short, or not one at all.
var errBadSession = errors.New("session cookie does not open")

// open returns the session a value of cookie name holds. It does not check
// the expiry: the caller's clock does.
func (s *sessionSealer) open(value, name string) (*session, error) {
	raw, err := base64.RawURLEncoding.DecodeString(value)
	if err != nil || len(raw) < s.aead.NonceSize()+s.aead.Overhead() {
		return nil, errBadSession
	}
	nonce, ciphertext := raw[:s.aead.NonceSize()], raw[s.aead.NonceSize():]
	plain, err := s.aead.Open(nil, nonce, ciphertext, []byte(name))
	if err != nil || len(plain) <= expiresBytes+csrfBytes {
		return nil, errBadSession
	}
	sess := &session{
		expires:   time.Unix(int64(binary.BigEndian.Uint64(plain)), 0), //nolint:gosec // sealed by seal from a Unix time
		tokenHash: string(plain[expiresBytes+csrfBytes:]),
	}
	copy(sess.csrf[:], plain[expiresBytes:])
	return sess, nil
}
