package verifier

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	accessv1alpha1 "github.com/tenantward/tenantward/api/v1alpha1"
	"github.com/tenantward/tenantward/internal/apikey"
)

const testOrigin = "https://127.0.0.1:6443 ca-sha256:00"

// savedKeys is an index with one key of each shape the index holds: plain,
// disabled, expiring, rate-limited with models, rotated with its previous
// key in its grace, one replaced and one deleted; and the plaintexts.
func savedKeys(t *testing.T, now time.Time) (*Index, map[string]string) {
	t.Helper()
	ix := NewIndex()
	plains := map[string]string{}
	add := func(name string, change func(k *accessv1alpha1.APIKey)) *accessv1alpha1.APIKey {
		key, k := issued(t, "acme-research", name)
		k.Status.OrganizationUID = "acme-uid"
		if change != nil {
			change(k)
		}
		ix.Set(k)
		plains[name] = key
		return k
	}
	add("plain", nil)
	add("disabled", func(k *accessv1alpha1.APIKey) { k.Spec.State = accessv1alpha1.KeyDisabled })
	add("expiring", func(k *accessv1alpha1.APIKey) { k.Spec.ExpiresAt = &metav1.Time{Time: now.Add(time.Hour)} })
	add("limited", func(k *accessv1alpha1.APIKey) {
		k.Status.RateLimits = []accessv1alpha1.RateLimit{{Requests: 10, Per: metav1.Duration{Duration: time.Minute}}}
		k.Status.Models = []accessv1alpha1.ModelPattern{"gpt-4o*", "claude-*"}
		k.Status.Workspace, k.Status.Type = "ops", accessv1alpha1.KeyTypeAdmin
	})
	rotated := add("rotated", nil)
	previous := plains["rotated"]
	next, err := apikey.Generate(apikey.KindWorkspace)
	if err != nil {
		t.Fatal(err)
	}
	rotated.Status.PreviousHash, rotated.Status.Hash = rotated.Status.Hash, apikey.Sum(next).String()
	rotated.Status.PreviousValidUntil = &metav1.Time{Time: now.Add(time.Hour)}
	ix.Set(rotated)
	plains["rotated"], plains["rotated-previous"] = next, previous
	replaced := add("replaced", nil)
	old := plains["replaced"]
	key, again := issued(t, "acme-research", "replaced")
	again.Status.OrganizationUID = replaced.Status.OrganizationUID
	ix.Set(again)
	plains["replaced"], plains["replaced-old"] = key, old
	add("deleted", nil)
	ix.Delete("acme-research", "deleted")
	return ix, plains
}

// TestSavedIndexRoundTrip: a saved index read back verifies every key as
// the index it was saved from does, entries included, and knows the
// resource version it was saved at.
func TestSavedIndexRoundTrip(t *testing.T) {
	now := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	ix, plains := savedKeys(t, now)
	var buf bytes.Buffer
	if err := ix.save(&buf, testOrigin, "1234"); err != nil {
		t.Fatal(err)
	}
	got, rv, err := loadIndex(buf.Bytes(), testOrigin)
	if err != nil {
		t.Fatal(err)
	}
	if rv != "1234" || got.Len() != ix.Len() {
		t.Fatalf("read back: resource version %q, %d keys; want 1234, %d", rv, got.Len(), ix.Len())
	}
	for _, o := range []*Index{ix, got} {
		o.SetOrganization("acme", "acme-uid")
	}
	for name, key := range plains {
		for _, at := range []time.Time{now, now.Add(2 * time.Hour)} {
			want, have := ix.Verify(key, nil, at), got.Verify(key, nil, at)
			if resultText(want) != resultText(have) {
				t.Errorf("%s at %s: read back %+v, saved %+v", name, at, have, want)
			}
		}
	}
	for name, want := range map[string]Code{"plain": Valid, "disabled": Disabled, "rotated-previous": Valid, "replaced-old": NotFound, "deleted": NotFound} {
		if c := got.Verify(plains[name], nil, now).Code; c != want {
			t.Errorf("%s: %s, want %s", name, c, want)
		}
	}
	if e := got.Verify(plains["limited"], nil, now).Entry; len(e.RateLimits.List) != 1 || len(e.Models) != 2 || e.Workspace != "ops" {
		t.Errorf("limited: %+v", e)
	}
	// Saved again, it is the same file: nothing was lost or added.
	var again bytes.Buffer
	if err := got.save(&again, testOrigin, "1234"); err != nil {
		t.Fatal(err)
	}
	if again.Len() != buf.Len() {
		t.Errorf("saved again: %d bytes, first %d", again.Len(), buf.Len())
	}
}

// resultText prints r with the rate limits' list rather than the address
// of their interned set.
func resultText(r Result) string {
	var limits []Limit
	if r.Entry.RateLimits != nil {
		limits = r.Entry.RateLimits.List
	}
	r.Entry.RateLimits = nil
	return fmt.Sprint(r, limits)
}

// TestSavedIndexRefused: a saved index is refused whole, with its reason,
// when it was saved for another API server, is damaged anywhere, truncated,
// or carries ids, levels or flags out of range behind a valid checksum — and
// the key in it is never in the error.
func TestSavedIndexRefused(t *testing.T) {
	now := time.Now()
	ix, plains := savedKeys(t, now)
	var buf bytes.Buffer
	if err := ix.save(&buf, testOrigin, "77"); err != nil {
		t.Fatal(err)
	}
	saved := buf.Bytes()
	resum := func(body []byte) []byte {
		sum := sha256.Sum256(body)
		return append(bytes.Clone(body), sum[:]...)
	}
	body := saved[:len(saved)-sha256.Size]
	flipped := bytes.Clone(saved)
	flipped[len(flipped)/2] ^= 1
	cases := map[string]struct {
		file   []byte
		origin string
		want   string
	}{
		"another API server": {saved, "https://10.0.0.1:443 ca-sha256:ff", "saved for another API server"},
		"a flipped bit":      {flipped, testOrigin, "checksum does not match"},
		"truncated":          {saved[:len(saved)-1], testOrigin, "checksum does not match"},
		"empty":              {nil, testOrigin, "not a saved index of this version"},
		"another version":    {resum(append([]byte("tenantward verifier index 2\n"), body[len(snapshotMagic):]...)), testOrigin, "not a saved index"},
		"a key cut short":    {resum(body[:len(body)-3]), testOrigin, "damaged"},
		"bytes after":        {resum(append(bytes.Clone(body), 0)), testOrigin, "bytes after the last key"},
	}
	// The last key's flags byte set to an unknown flag, behind a valid checksum.
	last := bytes.Clone(body)
	last[len(last)-1] = 0x80
	cases["unknown flags"] = struct {
		file   []byte
		origin string
		want   string
	}{resum(last), testOrigin, "damaged"}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			_, _, err := loadIndex(c.file, c.origin)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("error %v, want one saying %q", err, c.want)
			}
			for _, key := range plains {
				if strings.Contains(err.Error(), key) {
					t.Fatal("the error holds a key")
				}
			}
		})
	}
}

// TestIndexFile: the file is written whole or not at all, readable by its
// owner only, and a missing one is fs.ErrNotExist.
func TestIndexFile(t *testing.T) {
	ix, _ := savedKeys(t, time.Now())
	path := filepath.Join(t.TempDir(), "index")
	if _, _, err := readIndexFile(path, testOrigin); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("no file: %v", err)
	}
	if err := writeIndexFile(path, ix, testOrigin, "5"); err != nil {
		t.Fatal(err)
	}
	info, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if info.Mode().Perm() != 0o600 {
		t.Errorf("mode %v, want 0600", info.Mode().Perm())
	}
	got, rv, err := readIndexFile(path, testOrigin)
	if err != nil || rv != "5" || got.Len() != ix.Len() {
		t.Fatalf("read back: %v, %q, %d keys", err, rv, got.Len())
	}
	// A directory that cannot be written: an error, and nothing left behind.
	if err := writeIndexFile(filepath.Join(t.TempDir(), "missing", "index"), ix, testOrigin, "6"); err == nil {
		t.Fatal("saving into a missing directory succeeded")
	}
	entries, err := os.ReadDir(filepath.Dir(path))
	if err != nil || len(entries) != 1 {
		t.Fatalf("the directory holds %v (%v), want the index alone", entries, err)
	}
}

// FuzzLoadIndex: whatever a saved index holds behind a valid checksum, it
// is read or refused, never a panic, and what is read saves back to the same
// keys.
func FuzzLoadIndex(f *testing.F) {
	ix := NewIndex()
	_, k := issued(f, "acme-research", "app")
	k.Status.Models = []accessv1alpha1.ModelPattern{"gpt-*"}
	ix.Set(k)
	var buf bytes.Buffer
	if err := ix.save(&buf, testOrigin, "9"); err != nil {
		f.Fatal(err)
	}
	saved := buf.Bytes()
	f.Add(saved[len(snapshotMagic) : len(saved)-sha256.Size])
	f.Add([]byte{})
	f.Add([]byte{0x22})
	f.Fuzz(func(t *testing.T, body []byte) {
		file := append([]byte(snapshotMagic), body...)
		sum := sha256.Sum256(file)
		got, rv, err := loadIndex(append(file, sum[:]...), testOrigin)
		if err != nil {
			return
		}
		var again bytes.Buffer
		if err := got.save(&again, testOrigin, rv); err != nil {
			t.Fatal(err)
		}
		back, _, err := loadIndex(again.Bytes(), testOrigin)
		if err != nil || back.Len() != got.Len() {
			t.Fatalf("saved back: %v, %d keys of %d", err, back.Len(), got.Len())
		}
	})
}

// BenchmarkSavedIndex measures saving and reading back an index of 100,000
// keys (in memory: the file system's cost is the file's size, reported).
func BenchmarkSavedIndex(b *testing.B) {
	ix, _ := benchIndex(b, 100_000)
	var buf bytes.Buffer
	if err := ix.save(&buf, testOrigin, "1"); err != nil {
		b.Fatal(err)
	}
	saved := bytes.Clone(buf.Bytes())
	b.Run("save", func(b *testing.B) {
		for b.Loop() {
			buf.Reset()
			if err := ix.save(&buf, testOrigin, "1"); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(len(saved))/100_000, "file-bytes/key")
	})
	b.Run("load", func(b *testing.B) {
		for b.Loop() {
			if _, _, err := loadIndex(saved, testOrigin); err != nil {
				b.Fatal(err)
			}
		}
	})
}
