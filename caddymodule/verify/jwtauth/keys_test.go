package jwtauth

import (
	"crypto"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"strings"
	"testing"
	"time"
)

func pemOf(typ string, der []byte) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der})
}

func TestParsePublicKeyPEM(t *testing.T) {
	k := testKeys()
	pkix256, _ := x509.MarshalPKIXPublicKey(&k.ec256.PublicKey)
	pkcs8, _ := x509.MarshalPKCS8PrivateKey(k.rsa1)
	ecPriv, _ := x509.MarshalECPrivateKey(k.ec256)
	edPub, _, _ := ed25519.GenerateKey(rand.Reader)
	edDER, _ := x509.MarshalPKIXPublicKey(edPub)
	short := mustRSA(1024)
	shortDER, _ := x509.MarshalPKIXPublicKey(&short.PublicKey)
	p224 := mustEC(elliptic.P224())
	p224DER, _ := x509.MarshalPKIXPublicKey(&p224.PublicKey)
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "provider"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(-time.Minute), // expired: the key is still taken
	}
	certDER, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &k.rsa2.PublicKey, k.rsa2)
	if err != nil {
		t.Fatal(err)
	}
	ecParams := pemOf("EC PARAMETERS", []byte{0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07})

	ok := []struct {
		name string
		data []byte
		want any
	}{
		{"PKIX RSA", k.rsa1PEM, &k.rsa1.PublicKey},
		{"PKCS#1 RSA", pemOf("RSA PUBLIC KEY", x509.MarshalPKCS1PublicKey(&k.rsa1.PublicKey)), &k.rsa1.PublicKey},
		{"PKIX EC", pemOf("PUBLIC KEY", pkix256), &k.ec256.PublicKey},
		{"EC after EC PARAMETERS", append(ecParams, pemOf("PUBLIC KEY", pkix256)...), &k.ec256.PublicKey},
		{"certificate", pemOf("CERTIFICATE", certDER), &k.rsa2.PublicKey},
		{"text around the block", append(append([]byte("key from the dashboard\n"), k.rsa1PEM...), "trailer"...), &k.rsa1.PublicKey},
	}
	for _, c := range ok {
		t.Run(c.name, func(t *testing.T) {
			got, err := ParsePublicKeyPEM(c.data)
			if err != nil {
				t.Fatal(err)
			}
			type equaler interface{ Equal(x crypto.PublicKey) bool }
			if !got.(equaler).Equal(c.want) {
				t.Errorf("wrong key")
			}
		})
	}

	bad := []struct {
		name string
		data []byte
		want string
	}{
		{"empty", nil, "no PEM block found"},
		{"garbage", []byte("hello, not a key"), "no PEM block found"},
		{"DER, not PEM", pkix256, "no PEM block found"},
		{"only EC PARAMETERS", ecParams, "holds no PUBLIC KEY"},
		{"PKCS#8 private key", pemOf("PRIVATE KEY", pkcs8), "private key (PRIVATE KEY): configure the public key only"},
		{"PKCS#1 private key", pemOf("RSA PRIVATE KEY", x509.MarshalPKCS1PrivateKey(k.rsa1)), "private key (RSA PRIVATE KEY)"},
		{"EC private key", pemOf("EC PRIVATE KEY", ecPriv), "private key (EC PRIVATE KEY)"},
		{"EC private key after its parameters", append(ecParams, pemOf("EC PRIVATE KEY", ecPriv)...), "private key (EC PRIVATE KEY)"},
		{"other block", pemOf("CERTIFICATE REQUEST", []byte{1, 2, 3}), `unsupported PEM block type "CERTIFICATE REQUEST"`},
		{"corrupt PUBLIC KEY", pemOf("PUBLIC KEY", []byte{0x30, 0x03, 1, 2, 3}), "parsing PUBLIC KEY block"},
		{"Ed25519", pemOf("PUBLIC KEY", edDER), "unsupported key type Ed25519"},
		{"RSA 1024", pemOf("PUBLIC KEY", shortDER), "RSA key of 1024 bits is too short: at least 2048"},
		{"P-224", pemOf("PUBLIC KEY", p224DER), "unsupported EC curve P-224"},
	}
	for _, c := range bad {
		t.Run(c.name, func(t *testing.T) {
			got, err := ParsePublicKeyPEM(c.data)
			if err == nil {
				t.Fatalf("accepted %T", got)
			}
			if !strings.Contains(err.Error(), c.want) {
				t.Errorf("error %q does not say %q", err, c.want)
			}
		})
	}
}
