// Package apikey defines the format of tenantward API keys: a type prefix, a
// random body in base62 and a CRC32 checksum, GitHub-token style, so that a
// scanner recognises a leaked key and the verifier rejects a mistyped one
// before any lookup. Keys are stored only as their SHA-256 hash.
package apikey

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"fmt"
	"hash/crc32"
)

// Kind is the type of a key, carried in its prefix.
type Kind uint8

// Key kinds.
const (
	// KindInvalid is the zero Kind; Parse returns it with an error.
	KindInvalid Kind = iota
	// KindAdmin is an org-wide key (an APIKey in an org namespace).
	KindAdmin
	// KindWorkspace is a key for one workspace.
	KindWorkspace
)

// Prefixes of the two kinds of key.
const (
	PrefixAdmin     = "two_"
	PrefixWorkspace = "tww_"
)

// Lengths of the parts of a key. 28 base62 characters carry 166 random bits;
// 6 base62 characters hold any CRC32 (62^6 > 2^32).
const (
	prefixLen   = 4
	bodyLen     = 28
	checksumLen = 6
	// Len is the length of every well-formed key.
	Len = prefixLen + bodyLen + checksumLen
	// displayLen is how many characters after the prefix DisplayPrefix shows.
	displayLen = 4
)

const alphabet = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"

// Errors Parse returns. None of them includes the key.
var (
	ErrLength   = fmt.Errorf("malformed API key: a key is %d characters long", Len)
	ErrPrefix   = fmt.Errorf("malformed API key: a key starts with %s or %s", PrefixAdmin, PrefixWorkspace)
	ErrCharset  = errors.New("malformed API key: a key has only the characters 0-9, A-Z and a-z after its prefix")
	ErrChecksum = errors.New("malformed API key: the checksum does not match (a mistyped or truncated key)")
)

// Prefix returns the prefix of keys of kind k.
func (k Kind) Prefix() string {
	switch k {
	case KindAdmin:
		return PrefixAdmin
	case KindWorkspace:
		return PrefixWorkspace
	default:
		return ""
	}
}

// String names the kind.
func (k Kind) String() string {
	switch k {
	case KindAdmin:
		return "Admin"
	case KindWorkspace:
		return "Workspace"
	default:
		return "Invalid"
	}
}

// Generate returns a new key of kind k with bodyLen random base62 characters
// from crypto/rand.
func Generate(k Kind) (string, error) {
	prefix := k.Prefix()
	if prefix == "" {
		return "", fmt.Errorf("generating an API key: unknown kind %d", k)
	}
	var key [Len]byte
	copy(key[:], prefix)
	body := key[prefixLen : prefixLen+bodyLen]
	// Rejection sampling keeps every character equally likely: bytes >= 248
	// (the largest multiple of 62 below 256) are discarded.
	var buf [64]byte
	for n := 0; n < bodyLen; {
		if _, err := rand.Read(buf[:]); err != nil {
			return "", fmt.Errorf("generating an API key: %w", err)
		}
		for _, b := range buf {
			if b >= 248 {
				continue
			}
			body[n] = alphabet[b%62]
			n++
			if n == bodyLen {
				break
			}
		}
	}
	putChecksum(key[prefixLen+bodyLen:], checksum(string(key[:prefixLen+bodyLen])))
	return string(key[:]), nil
}

// Parse checks the format and checksum of key and returns its kind. It does
// not allocate, so that rejecting malformed keys costs less than a lookup.
func Parse(key string) (Kind, error) {
	if len(key) != Len {
		return KindInvalid, ErrLength
	}
	var kind Kind
	switch key[:prefixLen] {
	case PrefixAdmin:
		kind = KindAdmin
	case PrefixWorkspace:
		kind = KindWorkspace
	default:
		return KindInvalid, ErrPrefix
	}
	for i := prefixLen; i < Len; i++ {
		if !isBase62(key[i]) {
			return KindInvalid, ErrCharset
		}
	}
	var want [checksumLen]byte
	putChecksum(want[:], checksum(key[:prefixLen+bodyLen]))
	if string(want[:]) != key[prefixLen+bodyLen:] {
		return KindInvalid, ErrChecksum
	}
	return kind, nil
}

// Hash is the SHA-256 of a key.
type Hash [sha256.Size]byte

// Sum returns the SHA-256 of key without allocating.
func Sum(key string) Hash {
	var buf [Len]byte
	if len(key) == Len {
		n := copy(buf[:], key)
		return sha256.Sum256(buf[:n])
	}
	return sha256.Sum256([]byte(key))
}

// String returns the lower-case hex form stored in APIKey status.
func (h Hash) String() string { return hex.EncodeToString(h[:]) }

// ParseHash decodes the hex form of a hash.
func ParseHash(s string) (Hash, error) {
	var h Hash
	if len(s) != hex.EncodedLen(len(h)) {
		return h, fmt.Errorf("a key hash is %d hex characters, not %d", hex.EncodedLen(len(h)), len(s))
	}
	if _, err := hex.Decode(h[:], []byte(s)); err != nil {
		return h, fmt.Errorf("a key hash is hex: %w", err)
	}
	return h, nil
}

// Matches reports, in constant time, whether key hashes to the hex hash.
func Matches(key, hash string) bool {
	sum := Sum(key).String()
	return subtle.ConstantTimeCompare([]byte(sum), []byte(hash)) == 1
}

// DisplayPrefix returns the prefix and the first few characters of a key, for
// recognising it (e.g. tww_Xk2f…). It reveals 24 of the key's 166 random bits.
func DisplayPrefix(key string) string {
	n := prefixLen + displayLen
	if len(key) < n {
		return ""
	}
	return key[:n] + "…"
}

// checksum is the CRC32 (IEEE) of s, computed byte by byte so that nothing
// escapes to the heap (crc32.ChecksumIEEE takes a slice its assembly keeps).
func checksum(s string) uint32 {
	crc := ^uint32(0)
	for i := 0; i < len(s); i++ {
		crc = crc32.IEEETable[(crc^uint32(s[i]))&0xff] ^ crc>>8
	}
	return ^crc
}

// putChecksum writes c in fixed-width base62, most significant digit first.
func putChecksum(dst []byte, c uint32) {
	for i := len(dst) - 1; i >= 0; i-- {
		dst[i] = alphabet[c%62]
		c /= 62
	}
}

func isBase62(c byte) bool {
	return c >= '0' && c <= '9' || c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z'
}
