package certs

import (
	"bytes"
	"testing"
	"time"
)

func TestRenew(t *testing.T) {
	now := time.Date(2026, 11, 23, 0, 0, 0, 0, time.UTC)
	names := []string{"tenantward-webhook.tenantward-system.svc"}
	first, changed, err := Renew(Bundle{}, names, now)
	if err != nil || !changed {
		t.Fatalf("first issue: changed=%v err=%v", changed, err)
	}
	cert, err := parseCert(first.Cert)
	if err != nil {
		t.Fatal(err)
	}
	ca, _, err := parseCA(first)
	if err != nil || cert.CheckSignatureFrom(ca) != nil || cert.DNSNames[0] != names[0] {
		t.Fatalf("serving certificate not signed by the CA for %v: %v", names, err)
	}

	if _, changed, _ := Renew(first, names, now.Add(30*24*time.Hour)); changed {
		t.Error("renewed with two thirds of the lifetime left")
	}
	renewed, changed, err := Renew(first, names, now.Add(70*24*time.Hour))
	if err != nil || !changed || bytes.Equal(renewed.Cert, first.Cert) {
		t.Fatalf("not renewed with a fifth of the lifetime left: %v", err)
	}
	if !bytes.Equal(renewed.CACert, first.CACert) {
		t.Error("a serving renewal replaced the CA (the caBundle would lag behind)")
	}
	if _, changed, _ := Renew(first, []string{"other.svc"}, now); !changed {
		t.Error("not reissued for new DNS names")
	}
	late, _, err := Renew(first, names, now.Add(CAValidity))
	if err != nil || bytes.Equal(late.CACert, first.CACert) {
		t.Errorf("CA not replaced near its end: %v", err)
	}
	if _, changed, err := Renew(Bundle{CACert: []byte("garbage"), Cert: []byte("garbage")}, names, now); err != nil || !changed {
		t.Errorf("a corrupt Secret is not replaced: changed=%v err=%v", changed, err)
	}
}
