package temporalclient_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"log/slog"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tutorhub/tutorhub/internal/config"
	"github.com/tutorhub/tutorhub/internal/temporalclient"
	"github.com/tutorhub/tutorhub/internal/testenv"
)

// writeCert writes a self-signed certificate and its key as PEM files and returns their paths.
func writeCert(t *testing.T) (certFile, keyFile string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "tutorhub-worker"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), IsCA: true, BasicConstraintsValid: true}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}), 0o600); err != nil {
		t.Fatal(err)
	}
	return certFile, keyFile
}

func TestClientOptions(t *testing.T) {
	t.Parallel()
	cert, key := writeCert(t)
	garbage := filepath.Join(t.TempDir(), "garbage.pem")
	if err := os.WriteFile(garbage, []byte("not PEM"), 0o600); err != nil {
		t.Fatal(err)
	}
	base := config.Temporal{Address: "temporal.example.com:7233", Namespace: "tutorhub"}
	for _, tc := range []struct {
		name                  string
		mutate                func(*config.Temporal)
		wantTLS, wantCreds    bool
		wantCerts, wantRootCA bool
		wantErr               string
	}{
		{name: "the local dev server: plaintext, no credentials", mutate: func(*config.Temporal) {}},
		{name: "mTLS with a private CA", mutate: func(c *config.Temporal) { c.TLSCertFile, c.TLSKeyFile, c.TLSCAFile = cert, key, cert },
			wantTLS: true, wantCerts: true, wantRootCA: true},
		{name: "a Temporal Cloud API key: TLS with the system roots", mutate: func(c *config.Temporal) { c.APIKey = "cloud-key" },
			wantTLS: true, wantCreds: true},
		{name: "a CA file without a certificate", mutate: func(c *config.Temporal) { c.TLSCAFile = garbage }, wantErr: "holds no PEM certificate"},
		{name: "a client certificate that does not parse", mutate: func(c *config.Temporal) { c.TLSCertFile, c.TLSKeyFile = garbage, key },
			wantErr: "temporal client certificate"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := base
			tc.mutate(&cfg)
			co, err := temporalclient.ClientOptions(cfg, temporalclient.Options{Logger: slog.Default()})
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("error = %v, want one containing %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if co.HostPort != cfg.Address || co.Namespace != cfg.Namespace || co.Logger == nil || len(co.Interceptors) != 2 {
				t.Errorf("options = host %q namespace %q logger %v interceptors %d; want the config's, a logger, the tracing interceptor and the failure counter",
					co.HostPort, co.Namespace, co.Logger != nil, len(co.Interceptors))
			}
			tlsc := co.ConnectionOptions.TLS
			if (tlsc != nil) != tc.wantTLS || (co.Credentials != nil) != tc.wantCreds {
				t.Fatalf("TLS %v, credentials %v; want %v, %v", tlsc != nil, co.Credentials != nil, tc.wantTLS, tc.wantCreds)
			}
			if tlsc == nil {
				return
			}
			if tlsc.ServerName != "temporal.example.com" || (len(tlsc.Certificates) == 1) != tc.wantCerts || (tlsc.RootCAs != nil) != tc.wantRootCA {
				t.Errorf("TLS config: server name %q, %d certificates, root CAs %v", tlsc.ServerName, len(tlsc.Certificates), tlsc.RootCAs != nil)
			}
		})
	}
}

func TestDialChecksTheNamespace(t *testing.T) {
	t.Parallel()
	testenv.Temporal(t) // skips (or fails under CI) without the dev server
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, err := temporalclient.Dial(ctx, config.Temporal{Address: testenv.TemporalAddress(), Namespace: "no-such-namespace-" + testenv.RandomID()}, temporalclient.Options{})
	if err == nil || !strings.Contains(err.Error(), "no-such-namespace") {
		t.Fatalf("Dial with an unknown namespace: %v, want an error naming it", err)
	}
	c, err := temporalclient.Dial(ctx, config.Temporal{Address: testenv.TemporalAddress(), Namespace: testenv.TemporalNamespace()}, temporalclient.Options{})
	if err != nil {
		t.Fatalf("Dial the test namespace: %v", err)
	}
	c.Close()
}
