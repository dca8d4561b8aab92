package client

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/dbfleet/terraform-provider-dbfleet/backend/api/apiv1"
)

// testAuthority is a certificate authority made by the test.
type testAuthority struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
	pem  string
}

func newTestAuthority(t *testing.T) *testAuthority {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	template := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "provider test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, template, template, &key.PublicKey, key)
	require.NoError(t, err)
	cert, err := x509.ParseCertificate(der)
	require.NoError(t, err)
	return &testAuthority{cert: cert, key: key, pem: string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}))}
}

// serverCert signs a server certificate for ips, valid from notBefore to
// notAfter.
func (a *testAuthority) serverCert(t *testing.T, ips []net.IP, notBefore, notAfter time.Time) tls.Certificate {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	template := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()), Subject: pkix.Name{CommonName: "dbfleetd"},
		NotBefore: notBefore, NotAfter: notAfter,
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		IPAddresses: ips,
	}
	der, err := x509.CreateCertificate(rand.Reader, template, a.cert, &key.PublicKey, a.key)
	require.NoError(t, err)
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
}

// tlsServer serves the regions list over TLS with cert, counting requests
// that got through the handshake.
func tlsServer(t *testing.T, cert tls.Certificate) (string, *atomic.Int64) {
	t.Helper()
	served := new(atomic.Int64)
	server := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		served.Add(1)
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"regions": [{"name": "westeurope", "healthy": true, "databases_count": 0}]}`))
	}))
	server.TLS = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	server.StartTLS()
	t.Cleanup(server.Close)
	return server.URL, served
}

func TestTLSWithTestAuthority(t *testing.T) {
	t.Parallel()
	ca := newTestAuthority(t)
	now := time.Now()
	loopback := []net.IP{net.IPv4(127, 0, 0, 1)}
	good, goodServed := tlsServer(t, ca.serverCert(t, loopback, now.Add(-time.Minute), now.Add(time.Hour)))
	otherHost, _ := tlsServer(t, ca.serverCert(t, []net.IP{net.IPv4(127, 0, 0, 2)}, now.Add(-time.Minute), now.Add(time.Hour)))
	expired, _ := tlsServer(t, ca.serverCert(t, loopback, now.Add(-2*time.Hour), now.Add(-time.Hour)))
	otherCA := newTestAuthority(t)

	for _, tc := range []struct {
		name     string
		endpoint string
		caPEM    string
		insecure bool
		wantErr  string
	}{
		{name: "TrustsItsAuthority", endpoint: good, caPEM: ca.pem},
		{name: "RefusesUnknownAuthority", endpoint: good, wantErr: "certificate"},
		{name: "RefusesAnotherAuthority", endpoint: good, caPEM: otherCA.pem, wantErr: "certificate"},
		{name: "RefusesCertificateForAnotherAddress", endpoint: otherHost, caPEM: ca.pem, wantErr: "127.0.0.1"},
		{name: "RefusesExpiredCertificate", endpoint: expired, caPEM: ca.pem, wantErr: "expired"},
		{name: "InsecureSkipVerifyAcceptsAnything", endpoint: expired, insecure: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			c, err := New(Config{Endpoint: tc.endpoint, Token: testToken, CACertPEM: tc.caPEM, InsecureSkipVerify: tc.insecure,
				MaxRetries: 3, RetryWaitMin: time.Millisecond, RetryWaitMax: time.Millisecond})
			require.NoError(t, err)
			regions, err := c.RegionList(context.Background())
			if tc.wantErr != "" {
				require.ErrorContains(t, err, tc.wantErr)
				return
			}
			require.NoError(t, err)
			require.Equal(t, []apiv1.Region{{Name: "westeurope", Healthy: true}}, regions)
		})
	}
	t.Cleanup(func() { require.Positive(t, goodServed.Load(), "the trusted call reached the handler") })
}
