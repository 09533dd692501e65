package store

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/dgraph-io/badger/v4"

	"imglish/search/synth"
)

const (
	tDim   = 48
	tSpace = "images:test"
)

func testOpts() Options { return Options{MemTableSize: 4 << 20} }

func openT(t *testing.T, dir string) *DB {
	t.Helper()
	db, err := Open(t.Context(), dir, testOpts())
	if err != nil {
		t.Fatalf("open: %v", err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

func testItem(i int) Item {
	base := time.Date(2020, 1, 1, 12, 0, 0, 0, time.FixedZone("", 3600))
	it := Item{
		ID:    fmt.Sprintf("h%05d", i),
		Hash:  fmt.Sprintf("hash-%05d", i),
		Files: []File{{Path: fmt.Sprintf("/photos/%s/img%05d.jpg", []string{"2020", "2021", "trip"}[i%3], i), Size: int64(1000 + i), ModTime: base.Add(time.Duration(i) * time.Minute).UTC()}},
		Meta: Meta{
			Size:        int64(1000 + i),
			MediaType:   []string{"image/jpeg", "image/png"}[i%2],
			Width:       640,
			Height:      480,
			CameraMake:  []string{"Canon", "Nikon", "Fujifilm", "Sony"}[i%4],
			CameraModel: "X" + fmt.Sprint(i%4),
		},
		Tags:    []string{fmt.Sprintf("t%d", i%5)},
		Model:   "test",
		AddedAt: base.UTC(),
	}
	if i%2 == 0 {
		it.Taken = base.Add(time.Duration(i) * time.Hour)
		it.TakenOffset = true
		it.GPS = &GPS{Lat: 48.1, Lon: 11.5, Alt: 500}
	}
	return it
}

// fill creates the test space and adds n items with vectors in batches.
func fill(t *testing.T, db *DB, n int, vecs [][]float32) {
	t.Helper()
	if err := db.CreateSpace(t.Context(), Space{Name: tSpace, Kind: KindImages, Model: "test", Dim: tDim}); err != nil {
		t.Fatal(err)
	}
	var b Batch
	for i := 0; i < n; i++ {
		b.PutItem(testItem(i))
		b.PutVector(tSpace, testItem(i).ID, vecs[i])
		if b.Len() >= 64 || i == n-1 {
			if err := db.Apply(t.Context(), &b); err != nil {
				t.Fatal(err)
			}
			b.Reset()
		}
	}
}

func TestReopenIdentical(t *testing.T) {
	dir := t.TempDir()
	vecs := synth.Clustered(2500+20, tDim, 30, 0.8, 1)
	db := openT(t, dir)
	fill(t, db, 2500, vecs)
	queries := vecs[2500:]
	type answer struct{ graph, filtered []Hit }
	ask := func(db *DB) []answer {
		var out []answer
		for _, q := range queries {
			g, err := db.Search(t.Context(), tSpace, q, 10, SearchOptions{Ef: 32})
			if err != nil {
				t.Fatal(err)
			}
			f, err := db.Search(t.Context(), tSpace, q, 10, SearchOptions{Filter: &Filter{PathPrefixes: []string{"/photos/trip/"}}})
			if err != nil {
				t.Fatal(err)
			}
			out = append(out, answer{g, f})
		}
		return out
	}
	before := ask(db)
	it0, _ := db.Item(testItem(4).ID)
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil { // idempotent
		t.Fatal(err)
	}
	if _, err := db.Item("x"); !errors.Is(err, ErrClosed) {
		t.Fatalf("after close: %v", err)
	}
	db2 := openT(t, dir)
	if got := ask(db2); !reflect.DeepEqual(got, before) {
		t.Fatal("reopened store answers differently")
	}
	it1, err := db2.Item(testItem(4).ID)
	if err != nil {
		t.Fatal(err)
	}
	j0, _ := json.Marshal(it0)
	j1, _ := json.Marshal(it1)
	if !bytes.Equal(j0, j1) || !it1.Taken.Equal(testItem(4).Taken) || *it1.GPS != *testItem(4).GPS {
		t.Fatalf("item changed across reopen:\n%+v\n%+v", it0, it1)
	}
	if _, off := it1.Taken.Zone(); off != 3600 {
		t.Fatalf("EXIF offset lost: %d", off)
	}
	if err := db2.Check(t.Context()); err != nil {
		t.Fatal(err)
	}
	byPath, err := db2.ItemByPath(testItem(7).Files[0].Path)
	if err != nil || byPath.ID != testItem(7).ID {
		t.Fatalf("ItemByPath: %v %v", byPath.ID, err)
	}
	if sp := db2.Spaces(); len(sp) != 1 || sp[0].Count != 2500 {
		t.Fatalf("spaces: %+v", sp)
	}
}

func TestFilteredEqualsExact(t *testing.T) {
	db := openT(t, t.TempDir())
	vecs := synth.Clustered(3000+30, tDim, 30, 0.8, 2)
	fill(t, db, 3000, vecs)
	from := time.Date(2020, 1, 20, 0, 0, 0, 0, time.UTC)
	tests := []struct {
		name   string
		filter Filter
		want   int // matching items
	}{
		{"folder", Filter{PathPrefixes: []string{"/photos/2021/"}}, 1000},
		{"folder+camera (selective)", Filter{PathPrefixes: []string{"/photos/2021/"}, Camera: "nikon"}, 250},
		{"date range (taken, else mtime)", Filter{From: from, To: from.Add(48 * time.Hour)}, 0},
		{"tag+type", Filter{Tags: []string{"t3"}, MediaTypes: []string{"image/png"}}, 300},
		{"ids", Filter{IDs: []string{"h00001", "h00500", "h02999", "nope"}}, 3},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var brute []string
			db.Items(t.Context(), &tc.filter, func(it Item) bool { brute = append(brute, it.ID); return true })
			if tc.want > 0 && len(brute) != tc.want {
				t.Fatalf("%d items match, want %d", len(brute), tc.want)
			}
			var sum float64
			for _, q := range vecs[3000:] {
				got, err := db.Search(t.Context(), tSpace, q, 10, SearchOptions{Ef: 64, Filter: &tc.filter})
				if err != nil {
					t.Fatal(err)
				}
				want := exactScan(t, db, q, 10, brute)
				for _, h := range got {
					if !slices.Contains(brute, h.ID) {
						t.Fatalf("hit %s does not match the filter", h.ID)
					}
				}
				// Under 2% selectivity the answer must be the exact one.
				if len(brute)*50 < 3000 && !reflect.DeepEqual(ids(got), ids(want)) {
					t.Fatalf("selective filter: got %v want %v", ids(got), ids(want))
				}
				sum += overlap(got, want)
			}
			if r := sum / 30; r < 0.95 {
				t.Fatalf("filtered recall %.3f", r)
			}
		})
	}
}

// exactScan is an independent brute-force reference over stored vectors.
func exactScan(t *testing.T, db *DB, q []float32, k int, allowed []string) []Hit {
	t.Helper()
	var hs []Hit
	qn := normalise(q)
	for _, id := range allowed {
		v, err := db.Vector(tSpace, id)
		if err != nil {
			t.Fatal(err)
		}
		var s float32
		for i := range v {
			s += v[i] * qn[i]
		}
		hs = append(hs, Hit{ID: id, Score: s})
	}
	slices.SortFunc(hs, func(a, b Hit) int {
		if a.Before(b) {
			return -1
		}
		return 1
	})
	return hs[:min(k, len(hs))]
}

func normalise(v []float32) []float32 {
	var ss float64
	for _, f := range v {
		ss += float64(f) * float64(f)
	}
	out := make([]float32, len(v))
	for i, f := range v {
		out[i] = f / float32(sqrt(ss))
	}
	return out
}

func sqrt(x float64) float64 {
	z := x
	for i := 0; i < 50; i++ {
		z = (z + x/z) / 2
	}
	return z
}

func ids(hs []Hit) []string {
	out := make([]string, len(hs))
	for i, h := range hs {
		out[i] = h.ID
	}
	return out
}

func overlap(got, want []Hit) float64 {
	if len(want) == 0 {
		return 1
	}
	n := 0
	for _, w := range want {
		if slices.ContainsFunc(got, func(h Hit) bool { return h.ID == w.ID }) {
			n++
		}
	}
	return float64(n) / float64(len(want))
}

func TestDeleteUpdateReAdd(t *testing.T) {
	dir := t.TempDir()
	db := openT(t, dir)
	vecs := synth.Clustered(1200, tDim, 20, 0.8, 3)
	fill(t, db, 1000, vecs)
	var b Batch
	for i := 0; i < 1000; i += 10 {
		b.DeleteItem(testItem(i).ID)
	}
	b.PutVector(tSpace, testItem(1).ID, vecs[1100]) // update
	if err := db.Apply(t.Context(), &b); err != nil {
		t.Fatal(err)
	}
	check := func(db *DB) {
		t.Helper()
		if err := db.Check(t.Context()); err != nil {
			t.Fatal(err)
		}
		if _, err := db.Item(testItem(10).ID); !errors.Is(err, ErrNotFound) {
			t.Fatalf("deleted item: %v", err)
		}
		if _, err := db.ItemByPath(testItem(10).Files[0].Path); !errors.Is(err, ErrNotFound) {
			t.Fatalf("deleted item path: %v", err)
		}
		if _, err := db.Vector(tSpace, testItem(10).ID); !errors.Is(err, ErrNotFound) {
			t.Fatalf("deleted vector: %v", err)
		}
		hs, err := db.Search(t.Context(), tSpace, vecs[1100], 1, SearchOptions{})
		if err != nil || hs[0].ID != testItem(1).ID {
			t.Fatalf("updated vector not found: %v %v", hs, err)
		}
		if sp := db.Spaces(); sp[0].Count != 900 {
			t.Fatalf("count %d", sp[0].Count)
		}
	}
	check(db)
	db.Close()
	db = openT(t, dir)
	check(db)
	// Re-add a deleted item.
	b.Reset()
	b.PutItem(testItem(10))
	b.PutVector(tSpace, testItem(10).ID, vecs[10])
	if err := db.Apply(t.Context(), &b); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Vector(tSpace, testItem(10).ID); err != nil {
		t.Fatal(err)
	}
	if err := db.Check(t.Context()); err != nil {
		t.Fatal(err)
	}
}

func TestBadWrites(t *testing.T) {
	db := openT(t, t.TempDir())
	fill(t, db, 10, synth.Clustered(10, tDim, 2, 0.8, 4))
	tests := []struct {
		name  string
		build func(b *Batch)
		want  error
	}{
		{"empty id", func(b *Batch) { b.PutItem(Item{}) }, ErrInvalid},
		{"wrong dim", func(b *Batch) { b.PutVector(tSpace, "h00001", make([]float32, 3)) }, ErrInvalid},
		{"zero vector", func(b *Batch) { b.PutVector(tSpace, "h00001", make([]float32, tDim)) }, ErrInvalid},
		{"missing space", func(b *Batch) { b.PutVector("nope", "h00001", []float32{1}) }, ErrNotFound},
		{"vector without item", func(b *Batch) {
			v := make([]float32, tDim)
			v[0] = 1
			b.PutVector(tSpace, "ghost", v)
		}, ErrNotFound},
		{"text op on image space", func(b *Batch) {
			b.PutText(tSpace, TextEntry{ID: "a", Text: "x", Vector: []float32{1}})
		}, ErrInvalid},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var b Batch
			tc.build(&b)
			if err := db.Apply(t.Context(), &b); !errors.Is(err, tc.want) {
				t.Fatalf("got %v, want %v", err, tc.want)
			}
		})
	}
	if err := db.Check(t.Context()); err != nil {
		t.Fatal(err)
	}
	if err := db.CreateSpace(t.Context(), Space{Name: tSpace, Kind: KindImages, Model: "other", Dim: tDim}); !errors.Is(err, ErrExists) {
		t.Fatalf("conflicting space: %v", err)
	}
}

func TestTextCollection(t *testing.T) {
	dir := t.TempDir()
	db := openT(t, dir)
	if err := db.CreateSpace(t.Context(), Space{Name: "labels", Kind: KindTexts, Model: "test", Dim: tDim}); err != nil {
		t.Fatal(err)
	}
	vecs := synth.Clustered(40, tDim, 40, 0.1, 5)
	var b Batch
	for i := 0; i < 40; i++ {
		b.PutText("labels", TextEntry{ID: fmt.Sprintf("l%02d", i), Text: fmt.Sprintf("label %d", i), Vector: vecs[i]})
	}
	b.SetValue("labelsets/animals", []byte(`["cat","dog"]`))
	if err := db.Apply(t.Context(), &b); err != nil {
		t.Fatal(err)
	}
	for _, d := range []*DB{db, nil} {
		if d == nil {
			db.Close()
			d = openT(t, dir)
		}
		hs, err := d.SearchTexts(t.Context(), "labels", vecs[7], 3, SearchOptions{})
		if err != nil || len(hs) != 3 || hs[0].ID != "l07" || hs[0].Text != "label 7" {
			t.Fatalf("SearchTexts: %+v %v", hs, err)
		}
		all, err := d.Texts("labels")
		if err != nil || len(all) != 40 {
			t.Fatalf("Texts: %d %v", len(all), err)
		}
		v, err := d.Value("labelsets/animals")
		if err != nil || string(v) != `["cat","dog"]` {
			t.Fatalf("Value: %q %v", v, err)
		}
	}
}

func TestSchemaVersion(t *testing.T) {
	tests := []struct {
		name  string
		setup func(txn *badger.Txn) error
		want  error
	}{
		{"newer schema", func(txn *badger.Txn) error {
			return txn.Set([]byte(keySchema), binary.BigEndian.AppendUint32(nil, SchemaVersion+1))
		}, ErrSchemaVersion},
		{"data without schema", func(txn *badger.Txn) error { return txn.Set([]byte("item/x"), []byte("y")) }, ErrCorrupt},
		{"malformed schema", func(txn *badger.Txn) error { return txn.Set([]byte(keySchema), []byte{1}) }, ErrCorrupt},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			rawUpdate(t, dir, tc.setup)
			if _, err := Open(t.Context(), dir, testOpts()); !errors.Is(err, tc.want) {
				t.Fatalf("got %v, want %v", err, tc.want)
			}
		})
	}
}

func rawUpdate(t *testing.T, dir string, fn func(txn *badger.Txn) error) {
	t.Helper()
	bdb, err := badger.Open(badgerOptions(dir, testOpts(), discardLogger()))
	if err != nil {
		t.Fatal(err)
	}
	if err := bdb.Update(fn); err != nil {
		t.Fatal(err)
	}
	if err := bdb.Close(); err != nil {
		t.Fatal(err)
	}
}

func TestCorruptValues(t *testing.T) {
	tests := []struct {
		name   string
		prefix string
		mutate func(v []byte) []byte
	}{
		{"item byte flip", prefixItem, flip},
		{"item truncated", prefixItem, func(v []byte) []byte { return v[:len(v)/2] }},
		{"node byte flip", prefixNode, flip},
		{"vector byte flip", prefixVec, flip},
		{"vector wrong length", prefixVec, func(v []byte) []byte { return seal(v[:8]) }},
		{"space record flip", prefixSpace, flip},
		{"node links resealed to a missing node", prefixNode, func(v []byte) []byte {
			body, _ := unseal(v)
			b := slices.Clone(body)
			binary.LittleEndian.PutUint32(b[len(b)-4:], 1<<30)
			return seal(b)
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			db := openT(t, dir)
			fill(t, db, 50, synth.Clustered(50, tDim, 3, 0.8, 6))
			db.Close()
			rawUpdate(t, dir, func(txn *badger.Txn) error {
				it := txn.NewIterator(badger.IteratorOptions{Prefix: []byte(tc.prefix)})
				defer it.Close()
				it.Rewind()
				var k, v []byte
				for ; it.Valid(); it.Next() { // the last one: links of an inner node
					k = it.Item().KeyCopy(nil)
					v, _ = it.Item().ValueCopy(nil)
					if tc.prefix == prefixNode && bytes.Count(v, nil) > 0 {
						body, _ := unseal(v)
						if len(body) > 20 {
							break
						}
					}
				}
				return txn.Set(k, tc.mutate(v))
			})
			_, err := Open(t.Context(), dir, testOpts())
			if !errors.Is(err, ErrCorrupt) {
				t.Fatalf("got %v, want ErrCorrupt", err)
			}
		})
	}
}

func flip(v []byte) []byte {
	c := slices.Clone(v)
	c[len(c)/2] ^= 0x40
	return c
}

func TestBackupRestore(t *testing.T) {
	dir := t.TempDir()
	db := openT(t, dir)
	vecs := synth.Clustered(600, tDim, 10, 0.8, 7)
	fill(t, db, 590, vecs)
	var buf bytes.Buffer
	if _, err := db.Backup(t.Context(), &buf); err != nil {
		t.Fatal(err)
	}
	dir2 := filepath.Join(t.TempDir(), "restored")
	if err := Restore(t.Context(), dir2, bytes.NewReader(buf.Bytes()), testOpts()); err != nil {
		t.Fatal(err)
	}
	if err := Restore(t.Context(), dir2, bytes.NewReader(buf.Bytes()), testOpts()); !errors.Is(err, ErrNotEmpty) {
		t.Fatalf("restore over a store: %v", err)
	}
	db2 := openT(t, dir2)
	for _, q := range vecs[590:] {
		a, _ := db.Search(t.Context(), tSpace, q, 10, SearchOptions{})
		b, _ := db2.Search(t.Context(), tSpace, q, 10, SearchOptions{})
		if !reflect.DeepEqual(a, b) {
			t.Fatalf("restored answers differ: %v vs %v", a, b)
		}
	}
	if db2.ItemCount() != 590 {
		t.Fatalf("restored %d items", db2.ItemCount())
	}
}

// TestValuesAndBlobs: application values and blobs are found after a reopen
// and after Backup → Restore into another folder, blobs apart from values,
// and both limits are enforced.
func TestValuesAndBlobs(t *testing.T) {
	dir := t.TempDir()
	db := openT(t, dir)
	big := bytes.Repeat([]byte{0xd8, 0xff, 7}, MaxValueSize) // over MaxValueSize, fine as a blob
	var b Batch
	b.SetValue("labelset/shapes", []byte(`{"labels":["circle"]}`))
	b.SetBlob("upload/abc", big)
	b.SetBlob("upload/gone", []byte("x"))
	if err := db.Apply(t.Context(), &b); err != nil {
		t.Fatal(err)
	}
	b.Reset()
	b.SetBlob("upload/gone", nil)
	if err := db.Apply(t.Context(), &b); err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if _, err := db.Backup(t.Context(), &buf); err != nil {
		t.Fatal(err)
	}
	restored := filepath.Join(t.TempDir(), "restored")
	if err := Restore(t.Context(), restored, &buf, testOpts()); err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	for _, d := range []string{dir, restored} {
		db := openT(t, d)
		tests := []struct {
			name    string
			get     func(string) ([]byte, error)
			key     string
			want    []byte
			wantErr error
		}{
			{"value", db.Value, "labelset/shapes", []byte(`{"labels":["circle"]}`), nil},
			{"blob", db.Blob, "upload/abc", big, nil},
			{"deleted blob", db.Blob, "upload/gone", nil, ErrNotFound},
			{"blob is no value", db.Value, "upload/abc", nil, ErrNotFound},
			{"value is no blob", db.Blob, "labelset/shapes", nil, ErrNotFound},
		}
		for _, tc := range tests {
			got, err := tc.get(tc.key)
			if !errors.Is(err, tc.wantErr) || !bytes.Equal(got, tc.want) {
				t.Errorf("%s %s: %d bytes, %v; want %d bytes, %v", d, tc.name, len(got), err, len(tc.want), tc.wantErr)
			}
		}
		n := 0
		if err := db.ScanValues(t.Context(), "", func(string, []byte) bool { n++; return true }); err != nil || n != 1 {
			t.Errorf("ScanValues saw %d values, %v; want only the value", n, err)
		}
	}
	var bad Batch
	bad.SetValue("v", big)
	if err := openT(t, t.TempDir()).Apply(t.Context(), &bad); !errors.Is(err, ErrInvalid) {
		t.Errorf("value over MaxValueSize: %v, want ErrInvalid", err)
	}
}

// TestSearchItems: SearchItems answers what Search does, each hit with its
// item, also under a filter; an image space only.
func TestSearchItems(t *testing.T) {
	db := openT(t, t.TempDir())
	vecs := synth.Clustered(300, tDim, 10, 0.5, 3)
	fill(t, db, 300, vecs)
	for _, opts := range []SearchOptions{{}, {Exact: true}, {Filter: &Filter{Tags: []string{"t2"}}}} {
		want, err := db.Search(t.Context(), tSpace, vecs[9], 40, opts)
		if err != nil {
			t.Fatal(err)
		}
		got, err := db.SearchItems(t.Context(), tSpace, vecs[9], 40, opts)
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != len(want) {
			t.Fatalf("%+v: %d hits, Search has %d", opts, len(got), len(want))
		}
		for i, h := range got {
			it, err := db.Item(h.ID)
			if err != nil || h.Hit != want[i] || !reflect.DeepEqual(h.Item, it) {
				t.Fatalf("%+v: hit %d %v with item %s, Search has %v (item %v)", opts, i, h.Hit, h.Item.ID, want[i], err)
			}
		}
	}
	if err := db.CreateSpace(t.Context(), Space{Name: "labels", Kind: KindTexts, Model: "test", Dim: tDim}); err != nil {
		t.Fatal(err)
	}
	if _, err := db.SearchItems(t.Context(), "labels", vecs[9], 3, SearchOptions{}); !errors.Is(err, ErrInvalid) {
		t.Errorf("SearchItems on a text collection: %v, want ErrInvalid", err)
	}
}
