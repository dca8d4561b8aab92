package main

import (
	"errors"
	"flag"
	"os"

	"github.com/dbfleet/terraform-provider-dbfleet/backend/daemon"
	"github.com/dbfleet/terraform-provider-dbfleet/backend/secrets"
)

// tlsFlags are the --tls-cert and --tls-key flags of dev and serve.
type tlsFlags struct{ cert, key *string }

func addTLSFlags(flags *flag.FlagSet) *tlsFlags {
	return &tlsFlags{
		cert: flags.String("tls-cert", "", "PEM certificate (chain) to serve HTTPS with; needs --tls-key"),
		key:  flags.String("tls-key", "", "PEM private key of --tls-cert"),
	}
}

// config returns the TLS files, the flags overriding fromConfig's (which
// may be nil); nil when neither names a file, for plain HTTP.
func (f *tlsFlags) config(fromConfig *daemon.TLSConfig) *daemon.TLSConfig {
	var c daemon.TLSConfig
	if fromConfig != nil {
		c = *fromConfig
	}
	if *f.cert != "" {
		c.CertFile = *f.cert
	}
	if *f.key != "" {
		c.KeyFile = *f.key
	}
	if c.CertFile == "" && c.KeyFile == "" {
		return nil
	}
	return &c
}

// devSecretKey is the key of DBFLEET_SECRET_KEY_FILE or DBFLEET_SECRET_KEY
// when set, else the one kept at path, made there the first time.
func devSecretKey(path string) ([]byte, error) {
	key, err := secrets.ResolveKey("", os.Getenv)
	if errors.Is(err, secrets.ErrNoKey) {
		return secrets.EnsureKeyFile(path)
	}
	return key, err
}

// serveSecretKey is the key of secret_key_file, DBFLEET_SECRET_KEY_FILE or
// DBFLEET_SECRET_KEY; serve never makes one, since a key kept beside the
// state it protects protects little.
func serveSecretKey(configFile string) ([]byte, error) {
	key, err := secrets.ResolveKey(configFile, os.Getenv)
	if errors.Is(err, secrets.ErrNoKey) {
		return nil, errors.New("secret_key_file is required (or DBFLEET_SECRET_KEY_FILE): a file with the key that encrypts database passwords at rest, such as one made with `openssl rand -hex 32 > secret.key; chmod 600 secret.key`; keep it apart from the state file's backups")
	}
	return key, err
}
