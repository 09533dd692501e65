package indexer

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"imglish/encoder/preprocess"
	"imglish/store"
)

// TestSharedPhotoMetadata indexes real camera photos from
// ../shared/data/photos/ianare-exif-samples (the small top-level files and
// two GPS-tagged ones, given as file roots) and checks that each item carries
// the EXIF facts preprocess reads from the file: camera make and model, lens,
// the photo date (DateTimeOriginal, else DateTimeDigitized, else DateTime,
// with its offset when present), GPS, orientation, and the
// display size. The whole 178-photo folder is indexed by TestSharedCollections
// (without -race; a subset with it) and BenchmarkSharedPhotos.
func TestSharedPhotoMetadata(t *testing.T) {
	dir := repoPath("../shared/data/photos/ianare-exif-samples")
	top, err := filepath.Glob(filepath.Join(dir, "*.jpg"))
	if err != nil || len(top) == 0 {
		t.Skipf("no %s (shared test data absent)", dir)
	}
	// The indexer records a symlinked root by its target, so look items up
	// by the resolved paths (../shared may be a link to a copy).
	if dir, err = filepath.EvalSymlinks(dir); err != nil {
		t.Fatal(err)
	}
	if top, err = filepath.Glob(filepath.Join(dir, "*.jpg")); err != nil {
		t.Fatal(err)
	}
	files := append(top, filepath.Join(dir, "gps", "DSCN0010.jpg"), filepath.Join(dir, "gps", "DSCN0012.jpg"))
	e := newEnv(t, Options{})
	sum, err := e.ix.Run(t.Context(), files...)
	if err != nil {
		t.Fatal(err)
	}
	if sum.Embedded+sum.Linked != int64(len(files)) {
		t.Errorf("summary %+v for %d files", sum.Progress, len(files))
	}
	var withCamera, withDate, withGPS int
	for _, p := range files {
		f, err := os.Open(p)
		if err != nil {
			t.Fatal(err)
		}
		info, err := preprocess.Probe(f, preprocess.Options{})
		f.Close()
		if err != nil {
			t.Fatalf("probe %s: %v", p, err)
		}
		it, err := e.db.ItemByPath(p)
		if err != nil {
			t.Errorf("%s: %v", p, err)
			continue
		}
		if it.Width != info.Width || it.Height != info.Height || it.Orientation != info.Orientation || it.MediaType != "image/jpeg" {
			t.Errorf("%s: item %dx%d o%d %s, file %dx%d o%d", p, it.Width, it.Height, it.Orientation, it.MediaType, info.Width, info.Height, info.Orientation)
		}
		st, _ := os.Stat(p)
		if i := 0; len(it.Files) != 1 || !it.Files[i].ModTime.Equal(st.ModTime()) || it.Files[i].Size != st.Size() {
			t.Errorf("%s: files %+v", p, it.Files)
		}
		if it.Date().IsZero() {
			t.Errorf("%s: no date (the mtime is the fallback)", p)
		}
		x := info.EXIF
		if x == nil {
			continue
		}
		if it.CameraMake != x.Make || it.CameraModel != x.Model || it.Lens != x.LensModel {
			t.Errorf("%s: camera %q %q %q, EXIF %q %q %q", p, it.CameraMake, it.CameraModel, it.Lens, x.Make, x.Model, x.LensModel)
		}
		if x.Make != "" {
			withCamera++
		}
		if taken, zone, ok := x.Time(); ok {
			withDate++
			if !it.Taken.Equal(taken) || it.TakenOffset != zone || it.Date() != it.Taken {
				t.Errorf("%s: taken %v (offset %v), EXIF %v (%v)", p, it.Taken, it.TakenOffset, taken, zone)
			}
		} else if !it.Taken.IsZero() {
			t.Errorf("%s: taken %v without EXIF date", p, it.Taken)
		}
		if g := x.GPS; g != nil {
			withGPS++
			if it.GPS == nil || it.GPS.Lat != g.Lat || it.GPS.Lon != g.Lon {
				t.Errorf("%s: gps %+v, EXIF %+v", p, it.GPS, g)
			}
		}
	}
	if withCamera < 10 || withDate < 10 || withGPS < 2 {
		t.Errorf("only %d photos with a camera, %d with a date, %d with GPS", withCamera, withDate, withGPS)
	}
	// Date filters see the EXIF time.
	var n int
	_ = e.db.Items(t.Context(), &store.Filter{From: time.Date(1990, 1, 1, 0, 0, 0, 0, time.UTC), To: time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)},
		func(store.Item) bool { n++; return true })
	if n == 0 {
		t.Error("no item in a 1990–2030 date filter")
	}
}

// BenchmarkSharedPhotos indexes all of ../shared/data/photos (178 real
// photos, some over 4000 px) with the tiny model and reports photos/s.
func BenchmarkSharedPhotos(b *testing.B) {
	dir := repoPath("../shared/data/photos")
	if _, err := os.Stat(dir); err != nil {
		b.Skipf("no %s (shared test data absent)", dir)
	}
	var rate float64
	for b.Loop() {
		e := newEnv(b, Options{})
		sum, err := e.ix.Run(b.Context(), dir)
		if err != nil {
			b.Fatal(err)
		}
		rate = float64(sum.Embedded+sum.Linked) / sum.Elapsed
	}
	b.ReportMetric(rate, "photos/s")
}
