package daemon

import (
	"crypto/tls"
	"errors"
	"fmt"
	"net"

	"github.com/dbfleet/terraform-provider-dbfleet/backend/api"
)

// TLSConfig names the certificate and key dbfleetd serves HTTPS with.
type TLSConfig struct {
	// CertFile holds the PEM certificate chain, the server's certificate
	// first.
	CertFile string
	// KeyFile holds the PEM private key of the server's certificate.
	KeyFile string
}

// listen opens the API's listener: plain TCP, or TLS when tlsCfg is set.
// It returns the listener and the URL scheme clients use.
func listen(address string, tlsCfg *TLSConfig) (net.Listener, string, error) {
	var serverTLS *tls.Config
	if tlsCfg != nil {
		if tlsCfg.CertFile == "" || tlsCfg.KeyFile == "" {
			return nil, "", errors.New("TLS needs both a certificate file (--tls-cert, tls_cert_file) and its key file (--tls-key, tls_key_file)")
		}
		cert, err := tls.LoadX509KeyPair(tlsCfg.CertFile, tlsCfg.KeyFile)
		if err != nil {
			return nil, "", fmt.Errorf("load TLS certificate %s and key %s: %w", tlsCfg.CertFile, tlsCfg.KeyFile, err)
		}
		serverTLS = &tls.Config{MinVersion: tls.VersionTLS12, Certificates: []tls.Certificate{cert}}
	}
	l, err := net.Listen("tcp", address)
	if err != nil {
		return nil, "", fmt.Errorf("listen on %s: %w", address, err)
	}
	l = api.LimitListener(l, api.DefaultMaxConnections)
	if serverTLS == nil {
		return l, "http", nil
	}
	return tls.NewListener(l, serverTLS), "https", nil
}
