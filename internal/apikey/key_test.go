package apikey

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"hash/crc32"
	"strings"
	"testing"
)

func mustGenerate(t testing.TB, k Kind) string {
	t.Helper()
	key, err := Generate(k)
	if err != nil {
		t.Fatal(err)
	}
	return key
}

func TestGenerateParsesBack(t *testing.T) {
	for _, k := range []Kind{KindAdmin, KindWorkspace} {
		key := mustGenerate(t, k)
		if !strings.HasPrefix(key, k.Prefix()) || len(key) != Len {
			t.Fatalf("%v key has the wrong shape (length %d)", k, len(key))
		}
		got, err := Parse(key)
		if err != nil || got != k {
			t.Fatalf("Parse of a fresh %v key = %v, %v", k, got, err)
		}
	}
	if _, err := Generate(KindInvalid); err == nil {
		t.Fatal("Generate(KindInvalid) succeeded")
	}
}

func TestGenerateIsRandom(t *testing.T) {
	seen := map[string]bool{}
	for range 1000 {
		key := mustGenerate(t, KindWorkspace)
		if seen[key] {
			t.Fatal("Generate repeated a key")
		}
		seen[key] = true
	}
}

func TestParseRejects(t *testing.T) {
	valid := mustGenerate(t, KindWorkspace)
	flip := func(i int) string {
		b := []byte(valid)
		if b[i] == 'a' {
			b[i] = 'b'
		} else {
			b[i] = 'a'
		}
		return string(b)
	}
	cases := []struct {
		name string
		key  string
		want error
	}{
		{"empty", "", ErrLength},
		{"truncated", valid[:Len-1], ErrLength},
		{"too long", valid + "0", ErrLength},
		{"unknown prefix", "abc_" + valid[4:], ErrPrefix},
		{"upper-case prefix", "TWW_" + valid[4:], ErrPrefix},
		{"punctuation", valid[:10] + "-" + valid[11:], ErrCharset},
		{"non-ascii", valid[:10] + "\xff" + valid[11:], ErrCharset},
		{"typo in the body", flip(10), ErrChecksum},
		{"typo in the checksum", flip(Len - 1), ErrChecksum},
		{"prefix swapped", PrefixAdmin + valid[4:], ErrChecksum},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			kind, err := Parse(c.key)
			if !errors.Is(err, c.want) || kind != KindInvalid {
				t.Fatalf("Parse = %v, %v; want %v", kind, err, c.want)
			}
			if len(c.key) > 8 && strings.Contains(err.Error(), c.key[4:12]) {
				t.Fatal("the error repeats the key")
			}
		})
	}
}

func TestHashes(t *testing.T) {
	key := mustGenerate(t, KindAdmin)
	want := sha256.Sum256([]byte(key))
	if got := Sum(key).String(); got != hex.EncodeToString(want[:]) {
		t.Fatalf("Sum = %s", got)
	}
	if !Matches(key, hex.EncodeToString(want[:])) || Matches(key, strings.Repeat("0", 64)) {
		t.Fatal("Matches is wrong")
	}
	h, err := ParseHash(Sum(key).String())
	if err != nil || h != Sum(key) {
		t.Fatalf("ParseHash = %v, %v", h, err)
	}
	for _, bad := range []string{"", "abc", strings.Repeat("g", 64)} {
		if _, err := ParseHash(bad); err == nil {
			t.Fatalf("ParseHash(%q) succeeded", bad)
		}
	}
	if Sum("short") != sha256.Sum256([]byte("short")) {
		t.Fatal("Sum of a non-key string is wrong")
	}
}

func TestDisplayPrefix(t *testing.T) {
	key := mustGenerate(t, KindWorkspace)
	if got := DisplayPrefix(key); got != key[:8]+"…" {
		t.Fatalf("DisplayPrefix = %q", got)
	}
	if DisplayPrefix("tww") != "" {
		t.Fatal("DisplayPrefix of a short string is not empty")
	}
	if KindAdmin.String() != "Admin" || KindWorkspace.String() != "Workspace" || KindInvalid.String() != "Invalid" {
		t.Fatal("Kind names are wrong")
	}
}

// FuzzParse checks that Parse never panics, accepts only keys of the documented
// shape, and that every accepted key round-trips through its checksum.
func FuzzParse(f *testing.F) {
	f.Add(mustGenerate(f, KindWorkspace))
	f.Add(mustGenerate(f, KindAdmin))
	f.Add("tww_")
	f.Add("")
	f.Add(strings.Repeat("\x00", Len))
	f.Fuzz(func(t *testing.T, s string) {
		kind, err := Parse(s)
		if err != nil {
			if kind != KindInvalid {
				t.Fatalf("Parse returned kind %v with an error", kind)
			}
			return
		}
		if len(s) != Len || !strings.HasPrefix(s, kind.Prefix()) {
			t.Fatalf("Parse accepted %q", s)
		}
		var want [checksumLen]byte
		putChecksum(want[:], crc32.ChecksumIEEE([]byte(s[:prefixLen+bodyLen])))
		if string(want[:]) != s[prefixLen+bodyLen:] {
			t.Fatalf("Parse accepted a bad checksum in %q", s)
		}
	})
}

func BenchmarkParse(b *testing.B) {
	key := mustGenerate(b, KindWorkspace)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Parse(key); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkSum(b *testing.B) {
	key := mustGenerate(b, KindWorkspace)
	b.ReportAllocs()
	for b.Loop() {
		_ = Sum(key)
	}
}
