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
// not allocate, so that rejecting malformed keys costs less than a lookup;
// it is on every verification, so the characters are checked and the
// checksum computed in one pass (crcSlicing) and the key's checksum is
// decoded rather than the expected one encoded.
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
	// base62Digit has digitValid set for the alphabet's bytes alone.
	valid := digitValid
	for i := prefixLen; i < Len; i++ {
		valid &= base62Digit[key[i]]
	}
	if valid == 0 {
		return KindInvalid, ErrCharset
	}
	// The checksum's six digits as a number: distinct digit strings give
	// distinct numbers below 62^6, and putChecksum writes the one of the CRC.
	var got uint64
	for i := prefixLen + bodyLen; i < Len; i++ {
		got = got*62 + uint64(base62Digit[key[i]]&^digitValid)
	}
	if got != uint64(checksum(key[:prefixLen+bodyLen])) {
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

// checksum is the CRC32 (IEEE) of s, eight bytes at a time (slicing-by-8,
// as hash/crc32 does for short inputs) and with nothing escaping to the
// heap (crc32.ChecksumIEEE takes a slice its assembly keeps).
func checksum(s string) uint32 {
	crc := ^uint32(0)
	for ; len(s) >= 8; s = s[8:] {
		crc ^= uint32(s[0]) | uint32(s[1])<<8 | uint32(s[2])<<16 | uint32(s[3])<<24
		crc = crcSlicing[0][s[7]] ^ crcSlicing[1][s[6]] ^ crcSlicing[2][s[5]] ^ crcSlicing[3][s[4]] ^
			crcSlicing[4][crc>>24] ^ crcSlicing[5][crc>>16&0xff] ^ crcSlicing[6][crc>>8&0xff] ^ crcSlicing[7][crc&0xff]
	}
	for i := 0; i < len(s); i++ {
		crc = crcSlicing[0][(crc^uint32(s[i]))&0xff] ^ crc>>8
	}
	return ^crc
}

// crcSlicing are the tables of checksum: [0] is crc32.IEEETable, and [k][b]
// is entry b of [0] carried on through k more zero bytes.
var crcSlicing = func() (t [8][256]uint32) {
	t[0] = *crc32.IEEETable
	for b := range 256 {
		for k := 1; k < 8; k++ {
			c := t[k-1][b]
			t[k][b] = t[0][c&0xff] ^ c>>8
		}
	}
	return t
}()

// base62Digit is a byte's value in alphabet with digitValid set, and 0 for
// a byte outside it.
var base62Digit = func() (t [256]byte) {
	for i := range len(alphabet) {
		t[alphabet[i]] = digitValid | byte(i)
	}
	return t
}()

// digitValid marks the bytes of alphabet in base62Digit (their values are
// below 64).
const digitValid byte = 0x80

// putChecksum writes c in fixed-width base62, most significant digit first.
func putChecksum(dst []byte, c uint32) {
	for i := len(dst) - 1; i >= 0; i-- {
		dst[i] = alphabet[c%62]
		c /= 62
	}
}
