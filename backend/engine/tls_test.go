package engine

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"io"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/dbfleet/terraform-provider-dbfleet/backend/pgbin"
)

func TestParseTLSSettings(t *testing.T) {
	t.Parallel()
	env := map[string]string{"PGSSLMODE": "verify-ca", "PGSSLROOTCERT": "/env/root.crt", "PGSSLKEY": "/env/client.key"}
	tests := []struct {
		name         string
		dsn          string
		env          map[string]string
		want         tlsSettings
		wantConninfo string
		wantErr      bool
	}{
		{
			name: "URL", dsn: "postgres://admin:s3cret@db.example.com:5432/postgres?sslmode=verify-full&sslrootcert=/etc/ca%20dir/root.crt",
			want:         tlsSettings{Mode: "verify-full", RootCert: "/etc/ca dir/root.crt"},
			wantConninfo: `sslmode='verify-full' sslrootcert='/etc/ca dir/root.crt'`,
		},
		{
			name: "KeywordValue", dsn: `host=db port=5432 sslmode = verify-full sslrootcert='/etc/it\'s/root.crt' sslcert=/c.crt sslkey=/c\ k.key password='a b'`,
			want:         tlsSettings{Mode: "verify-full", RootCert: `/etc/it's/root.crt`, Cert: "/c.crt", Key: "/c k.key"},
			wantConninfo: `sslmode='verify-full' sslrootcert='/etc/it\'s/root.crt' sslcert='/c.crt' sslkey='/c k.key'`,
		},
		{
			name: "EnvironmentFillsWhatTheDSNLeavesOut", dsn: "host=db sslrootcert=/dsn/root.crt", env: env,
			want:         tlsSettings{Mode: "verify-ca", RootCert: "/dsn/root.crt", Key: "/env/client.key"},
			wantConninfo: `sslmode='verify-ca' sslrootcert='/dsn/root.crt' sslkey='/env/client.key'`,
		},
		{
			name: "DSNOverridesEnvironment", dsn: "postgresql://db/postgres?sslmode=disable", env: env,
			want:         tlsSettings{Mode: "disable", RootCert: "/env/root.crt", Key: "/env/client.key"},
			wantConninfo: `sslmode='disable' sslrootcert='/env/root.crt' sslkey='/env/client.key'`,
		},
		{name: "DefaultPrefer", dsn: "host=db", want: tlsSettings{Mode: "prefer"}, wantConninfo: `sslmode='prefer'`},
		{name: "UnterminatedQuote", dsn: "host=db sslmode='verify-full", wantErr: true},
		{name: "NoEquals", dsn: "host db", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := parseTLSSettings(tt.dsn, func(k string) string { return tt.env[k] })
			if tt.wantErr {
				require.Error(t, err)
				require.NotContains(t, err.Error(), "verify-full", "the error never quotes the DSN")
				return
			}
			require.NoError(t, err)
			require.Equal(t, tt.want, got)
			require.Equal(t, tt.wantConninfo, got.conninfo())
			// The conninfo reads back as libpq would read it.
			back, err := keywordValueSettings(got.conninfo())
			require.NoError(t, err)
			require.Equal(t, got.Mode, back["sslmode"])
			require.Equal(t, got.RootCert, back["sslrootcert"])
			require.Contains(t, got.env(), "PGSSLMODE="+tt.want.Mode)
			require.Contains(t, got.env(), "PGSSLROOTCERT="+tt.want.RootCert)
		})
	}
}

// TestDumpVerifiesServer runs the real pg_dump against a loopback server that offers TLS with a
// certificate for "localhost" only, signed by a test authority. With the admin DSN's
// sslmode=verify-full and that authority as sslrootcert, pg_dump trusts the chain and still
// refuses the name 127.0.0.1: only verify-full with that root certificate fails so (require
// and verify-ca would go on); with another authority as sslrootcert the chain fails. The
// server is a stand-in for PostgreSQL's TLS negotiation; no more is needed to see what pg_dump
// was told.
func TestDumpVerifiesServer(t *testing.T) {
	t.Parallel()
	pgDump, err := pgbin.Path("pg_dump")
	require.NoError(t, err)
	dir := t.TempDir()
	rootCert, serverCert := testCertificates(t, dir, "localhost")
	otherRoot, _ := testCertificates(t, filepath.Join(dir, "other"), "localhost")
	addr := serveTLSNegotiation(t, serverCert)

	tests := []struct {
		name, dsnTLS, want string
	}{
		{"VerifyFull", "sslmode=verify-full sslrootcert=" + rootCert, `does not match host name "127.0.0.1"`},
		{"RootCertIsUsed", "sslmode=verify-full sslrootcert=" + otherRoot, `certificate verify failed`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			fleet, err := NewFleet([]RegionConfig{{Name: "tlsregion",
				AdminDSN: fmt.Sprintf("host=127.0.0.1 port=%d user=admin password=unused dbname=postgres %s", addr.Port, tt.dsnTLS)}}, Options{})
			require.NoError(t, err)
			defer fleet.Close()
			cmd := dumpCommand(context.Background(), fleet.regions["tlsregion"], pgDump,
				Owner{Region: "tlsregion", Database: "orders", Role: "orders_owner", Password: "pw"}, filepath.Join(dir, tt.name+".dump"))
			out, err := cmd.CombinedOutput()
			require.Error(t, err)
			require.Contains(t, string(out), tt.want)
		})
	}
}

// serveTLSNegotiation accepts connections that open with PostgreSQL's SSLRequest, answers that
// it speaks TLS and completes the handshake with cert, then closes.
func serveTLSNegotiation(t *testing.T, cert tls.Certificate) *net.TCPAddr {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	t.Cleanup(func() { _ = ln.Close() })
	go func() {
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer conn.Close()
				_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
				request := make([]byte, 8)
				if _, err := io.ReadFull(conn, request); err != nil {
					return
				}
				if _, err := conn.Write([]byte{'S'}); err != nil {
					return
				}
				_ = tls.Server(conn, &tls.Config{Certificates: []tls.Certificate{cert}}).Handshake()
			}()
		}
	}()
	return ln.Addr().(*net.TCPAddr)
}

// testCertificates writes an authority's certificate to dir and returns its path and a server
// certificate it signed for dnsName only.
func testCertificates(t *testing.T, dir, dnsName string) (string, tls.Certificate) {
	t.Helper()
	require.NoError(t, os.MkdirAll(dir, 0o700))
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	now := time.Now()
	caTemplate := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "dbfleet test CA"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(time.Hour), IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}
	caDER, err := x509.CreateCertificate(rand.Reader, caTemplate, caTemplate, &caKey.PublicKey, caKey)
	require.NoError(t, err)
	ca, err := x509.ParseCertificate(caDER)
	require.NoError(t, err)
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	template := &x509.Certificate{SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: dnsName}, DNSNames: []string{dnsName},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(time.Hour), ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	der, err := x509.CreateCertificate(rand.Reader, template, ca, &key.PublicKey, caKey)
	require.NoError(t, err)
	rootPath := filepath.Join(dir, "root.crt")
	require.NoError(t, os.WriteFile(rootPath, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER}), 0o600))
	return rootPath, tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
}
