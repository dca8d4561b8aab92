package secrets

import (
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
)

// Environment variables that give the key when the configuration does not:
// the path of a key file, or the key itself.
const (
	EnvKeyFile = "DBFLEET_SECRET_KEY_FILE"
	EnvKey     = "DBFLEET_SECRET_KEY"
)

// ErrNoKey is returned by ResolveKey when no key is configured.
var ErrNoKey = errors.New("no secret key configured")

// ParseKey decodes a key written as 64 hex digits, or as the base64 of 32
// bytes. Surrounding white space is ignored. Errors never quote the text.
func ParseKey(text []byte) ([]byte, error) {
	text = bytes.TrimSpace(text)
	if key, err := hex.DecodeString(string(text)); err == nil && len(key) == KeySize {
		return key, nil
	}
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
		if key, err := enc.DecodeString(string(text)); err == nil && len(key) == KeySize {
			return key, nil
		}
	}
	return nil, fmt.Errorf("a secret key is %d random bytes written as 64 hex digits (openssl rand -hex 32) or as base64", KeySize)
}

// LoadKeyFile reads the key in the file at path.
func LoadKeyFile(path string) ([]byte, error) {
	text, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read secret key file: %w", err)
	}
	key, err := ParseKey(text)
	if err != nil {
		return nil, fmt.Errorf("secret key file %s: %w", path, err)
	}
	return key, nil
}

// EnsureKeyFile reads the key at path, first writing a new random one there
// (mode 0600) when the file does not exist. Dev mode keeps its key this way
// beside its state file.
func EnsureKeyFile(path string) ([]byte, error) {
	key := make([]byte, KeySize)
	if _, err := rand.Read(key); err != nil {
		return nil, fmt.Errorf("generate secret key: %w", err)
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if errors.Is(err, fs.ErrExist) {
		return LoadKeyFile(path)
	}
	if err != nil {
		return nil, fmt.Errorf("create secret key file: %w", err)
	}
	_, err = f.WriteString(hex.EncodeToString(key) + "\n")
	if closeErr := f.Close(); err == nil {
		err = closeErr
	}
	if err != nil {
		_ = os.Remove(path)
		return nil, fmt.Errorf("write secret key file %s: %w", path, err)
	}
	return key, nil
}

// ResolveKey returns the key from, in order: configFile (the secret_key_file
// setting) when not empty, the file named by DBFLEET_SECRET_KEY_FILE, the
// value of DBFLEET_SECRET_KEY. It returns ErrNoKey when none is set.
// getenv is os.Getenv outside tests.
func ResolveKey(configFile string, getenv func(string) string) ([]byte, error) {
	if configFile != "" {
		return LoadKeyFile(configFile)
	}
	if path := getenv(EnvKeyFile); path != "" {
		return LoadKeyFile(path)
	}
	if value := getenv(EnvKey); value != "" {
		key, err := ParseKey([]byte(value))
		if err != nil {
			return nil, fmt.Errorf("%s: %w", EnvKey, err)
		}
		return key, nil
	}
	return nil, ErrNoKey
}
