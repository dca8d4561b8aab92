// Package secrets encrypts the secrets dbfleetd keeps in its state store
// (the generated database passwords) with AES-256-GCM, and loads or makes the
// key that does it.
package secrets

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
)

// KeySize is the size of a key: AES-256.
const KeySize = 32

// sealedPrefix marks a sealed value and the format's version. Generated
// passwords are alphanumeric, so no plain password starts with it.
const sealedPrefix = "enc:v1:"

// Box seals and opens secrets with one AES-256-GCM key. It implements
// store.SecretBox and is safe for concurrent use.
type Box struct {
	aead cipher.AEAD
}

// NewAESGCM returns a Box for a 32-byte key.
func NewAESGCM(key []byte) (*Box, error) {
	if len(key) != KeySize {
		return nil, fmt.Errorf("secret key is %d bytes; it must be %d bytes (64 hex digits)", len(key), KeySize)
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, fmt.Errorf("create AES cipher: %w", err)
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, fmt.Errorf("create AES-GCM: %w", err)
	}
	return &Box{aead: aead}, nil
}

// Seal encrypts plaintext under a fresh random nonce and returns
// "enc:v1:" followed by the base64 of nonce and ciphertext. An empty
// plaintext stays empty: there is nothing to hide, and rows without a
// password (none yet) keep reading as such.
func (b *Box) Seal(plaintext string) (string, error) {
	if plaintext == "" {
		return "", nil
	}
	nonce := make([]byte, b.aead.NonceSize(), b.aead.NonceSize()+len(plaintext)+b.aead.Overhead())
	if _, err := rand.Read(nonce); err != nil {
		return "", fmt.Errorf("generate nonce: %w", err)
	}
	sealed := b.aead.Seal(nonce, nonce, []byte(plaintext), []byte(sealedPrefix))
	return sealedPrefix + base64.RawStdEncoding.EncodeToString(sealed), nil
}

// Open decrypts a value Seal returned. A value without the sealed prefix was
// stored before encryption at rest was configured and is returned as it is;
// it is sealed the next time it is written (dbfleetd re-seals every
// database at start). Any sealed value that fails to decrypt (another key, a
// changed byte) is an error that never quotes the value.
func (b *Box) Open(value string) (string, error) {
	rest, ok := strings.CutPrefix(value, sealedPrefix)
	if !ok {
		return value, nil
	}
	raw, err := base64.RawStdEncoding.DecodeString(rest)
	if err != nil || len(raw) < b.aead.NonceSize()+b.aead.Overhead() {
		return "", errors.New("sealed secret is malformed")
	}
	nonce, ciphertext := raw[:b.aead.NonceSize()], raw[b.aead.NonceSize():]
	plain, err := b.aead.Open(nil, nonce, ciphertext, []byte(sealedPrefix))
	if err != nil {
		return "", errors.New("sealed secret does not decrypt with this key: is secret_key_file the key the state was written with?")
	}
	return string(plain), nil
}

// Sealed tells whether a stored value is sealed.
func Sealed(value string) bool { return strings.HasPrefix(value, sealedPrefix) }
