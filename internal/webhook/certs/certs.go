// Package certs gives the webhook server TLS certificates from a self-managed
// CA: the CA and a serving certificate live in a Secret in the operator's
// namespace, every replica writes them to its certificate directory (which
// controller-runtime's certwatcher reloads without a restart), and the CA is
// written into the caBundle of the webhook configuration. Certificates are
// renewed when a third of their lifetime is left.
package certs

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"slices"
	"time"
)

// Secret data keys.
const (
	CAKey      = "ca.crt"
	CAKeyKey   = "ca.key"
	CertKey    = "tls.crt"
	PrivateKey = "tls.key"
)

// Lifetimes.
const (
	CAValidity      = 10 * 365 * 24 * time.Hour
	ServingValidity = 90 * 24 * time.Hour
)

// Bundle is a CA and a serving certificate it signed, PEM-encoded.
type Bundle struct {
	CACert, CAKey, Cert, Key []byte
}

// Data returns the bundle as Secret data.
func (b Bundle) Data() map[string][]byte {
	return map[string][]byte{CAKey: b.CACert, CAKeyKey: b.CAKey, CertKey: b.Cert, PrivateKey: b.Key}
}

// FromData reads a bundle from Secret data.
func FromData(d map[string][]byte) Bundle {
	return Bundle{CACert: d[CAKey], CAKey: d[CAKeyKey], Cert: d[CertKey], Key: d[PrivateKey]}
}

// Renew returns b when it is still good for dnsNames at now, otherwise a
// bundle with a fresh serving certificate: signed by b's CA while the CA has
// more than a third of its life left, else by a new CA. changed says whether
// anything was renewed.
func Renew(b Bundle, dnsNames []string, now time.Time) (out Bundle, changed bool, err error) {
	ca, caKey, caErr := parseCA(b)
	if caErr != nil || renewalDue(ca, now) {
		if ca, caKey, b.CACert, b.CAKey, err = newCA(now); err != nil {
			return b, false, err
		}
		b.Cert = nil
	}
	if cert, err := parseCert(b.Cert); err == nil && !renewalDue(cert, now) && cert.CheckSignatureFrom(ca) == nil &&
		slices.Equal(cert.DNSNames, dnsNames) {
		return b, false, nil
	}
	if b.Cert, b.Key, err = newServing(ca, caKey, dnsNames, now); err != nil {
		return b, false, err
	}
	return b, true, nil
}

// renewalDue is true when less than a third of the certificate's lifetime is left.
func renewalDue(c *x509.Certificate, now time.Time) bool {
	life := c.NotAfter.Sub(c.NotBefore)
	return now.After(c.NotAfter.Add(-life / 3))
}

func parseCert(pemBytes []byte) (*x509.Certificate, error) {
	block, _ := pem.Decode(pemBytes)
	if block == nil || block.Type != "CERTIFICATE" {
		return nil, errors.New("no PEM certificate")
	}
	return x509.ParseCertificate(block.Bytes)
}

func parseCA(b Bundle) (*x509.Certificate, *ecdsa.PrivateKey, error) {
	ca, err := parseCert(b.CACert)
	if err != nil {
		return nil, nil, err
	}
	block, _ := pem.Decode(b.CAKey)
	if block == nil {
		return nil, nil, errors.New("no PEM CA key")
	}
	key, err := x509.ParseECPrivateKey(block.Bytes)
	if err != nil {
		return nil, nil, err
	}
	if !ca.IsCA {
		return nil, nil, errors.New("the CA certificate is not a CA")
	}
	return ca, key, nil
}

func newCA(now time.Time) (*x509.Certificate, *ecdsa.PrivateKey, []byte, []byte, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, nil, nil, err
	}
	sn, err := serial()
	if err != nil {
		return nil, nil, nil, nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber:          sn,
		Subject:               pkix.Name{CommonName: fmt.Sprintf("tenantward-webhook-ca@%d", now.Unix())},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(CAValidity),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, nil, nil, nil, err
	}
	ca, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, nil, nil, nil, err
	}
	keyPEM, err := encodeKey(key)
	return ca, key, encodeCert(der), keyPEM, err
}

func newServing(ca *x509.Certificate, caKey *ecdsa.PrivateKey, dnsNames []string, now time.Time) ([]byte, []byte, error) {
	return newLeaf(ca, caKey, dnsNames[0], dnsNames, x509.ExtKeyUsageServerAuth, now)
}

// ClientCert returns a client certificate and key for commonName signed by
// b's CA (made with Renew), e.g. the kube-apiserver's front-proxy client.
func ClientCert(b Bundle, commonName string, now time.Time) (cert, key []byte, err error) {
	ca, caKey, err := parseCA(b)
	if err != nil {
		return nil, nil, err
	}
	return newLeaf(ca, caKey, commonName, nil, x509.ExtKeyUsageClientAuth, now)
}

func newLeaf(ca *x509.Certificate, caKey *ecdsa.PrivateKey, commonName string, dnsNames []string, usage x509.ExtKeyUsage, now time.Time) ([]byte, []byte, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, err
	}
	sn, err := serial()
	if err != nil {
		return nil, nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber: sn,
		Subject:      pkix.Name{CommonName: commonName},
		DNSNames:     dnsNames,
		NotBefore:    now.Add(-time.Hour),
		NotAfter:     now.Add(ServingValidity),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{usage},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
	if err != nil {
		return nil, nil, err
	}
	keyPEM, err := encodeKey(key)
	return encodeCert(der), keyPEM, err
}

func serial() (*big.Int, error) {
	return rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
}

func encodeCert(der []byte) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
}

func encodeKey(k *ecdsa.PrivateKey) ([]byte, error) {
	der, err := x509.MarshalECPrivateKey(k)
	if err != nil {
		return nil, err
	}
	return pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: der}), nil
}
