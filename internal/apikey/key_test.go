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

// referenceParse is Parse written plainly: the characters one by one
// against the alphabet, the checksum by hash/crc32 and encoded.
func referenceParse(key string) (Kind, error) {
	if len(key) != Len {
		return KindInvalid, ErrLength
	}
	kind := map[string]Kind{PrefixAdmin: KindAdmin, PrefixWorkspace: KindWorkspace}[key[:prefixLen]]
	if kind == KindInvalid {
		return KindInvalid, ErrPrefix
	}
	for i := prefixLen; i < Len; i++ {
		if strings.IndexByte(alphabet, key[i]) < 0 {
			return KindInvalid, ErrCharset
		}
	}
	var want [checksumLen]byte
	putChecksum(want[:], crc32.ChecksumIEEE([]byte(key[:prefixLen+bodyLen])))
	if string(want[:]) != key[prefixLen+bodyLen:] {
		return KindInvalid, ErrChecksum
	}
	return kind, nil
}

// TestParseEveryByte puts each of the 256 byte values at each position of a
// valid key: Parse agrees with referenceParse on every one (a byte outside
// the alphabet anywhere after the prefix is ErrCharset, a digit changed is
// ErrChecksum, the key itself passes).
func TestParseEveryByte(t *testing.T) {
	for _, valid := range []string{mustGenerate(t, KindWorkspace), mustGenerate(t, KindAdmin)} {
		b := []byte(valid)
		for i := range b {
			orig := b[i]
			for c := range 256 {
				b[i] = byte(c)
				kind, err := Parse(string(b))
				wantKind, wantErr := referenceParse(string(b))
				if kind != wantKind || !errors.Is(err, wantErr) || (err == nil) != (wantErr == nil) {
					t.Fatalf("byte %#x at %d: Parse = %v, %v; want %v, %v", c, i, kind, err, wantKind, wantErr)
				}
			}
			b[i] = orig
		}
	}
}

// TestChecksum compares checksum with hash/crc32 for every length up to
// four times the slicing width.
func TestChecksum(t *testing.T) {
	buf := make([]byte, 64)
	for i := range buf {
		buf[i] = byte(i*151 + 7)
	}
	for n := range len(buf) + 1 {
		if got, want := checksum(string(buf[:n])), crc32.ChecksumIEEE(buf[:n]); got != want {
			t.Fatalf("length %d: checksum = %#x, crc32 = %#x", n, got, want)
		}
	}
}

// FuzzParse checks that Parse never panics and decides every input as
// referenceParse does: the same kind, the same error.
func FuzzParse(f *testing.F) {
	f.Add(mustGenerate(f, KindWorkspace))
	f.Add(mustGenerate(f, KindAdmin))
	f.Add("tww_")
	f.Add("")
	f.Add(strings.Repeat("\x00", Len))
	f.Add("tww_" + strings.Repeat("z", bodyLen+checksumLen))
	f.Add("two_" + strings.Repeat("0", bodyLen) + "zzzzzz")
	f.Fuzz(func(t *testing.T, s string) {
		kind, err := Parse(s)
		wantKind, wantErr := referenceParse(s)
		if kind != wantKind || !errors.Is(err, wantErr) || (err == nil) != (wantErr == nil) {
			t.Fatalf("Parse(%q) = %v, %v; want %v, %v", s, kind, err, wantKind, wantErr)
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
