package preprocess

import (
	"bufio"
	"bytes"
	"errors"
	"math"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

// TestOrientationFixtures: every EXIF orientation, through PNG eXIf, a
// lossless WebP EXIF chunk and a TIFF tag, comes out exactly as Pillow's
// exif_transpose; with IgnoreOrientation the stored pixels come back.
func TestOrientationFixtures(t *testing.T) {
	m := loadManifest(t)
	stored := readPNGRGB(t, fixture(t, "gold_orient_1.png"))
	for _, c := range m.Orient {
		t.Run(c.File, func(t *testing.T) {
			got, info, err := decodeFile(t, fixture(t, c.File), Options{})
			if err != nil {
				t.Fatal(err)
			}
			want := readPNGRGB(t, fixture(t, c.Golden))
			if info.Orientation != c.Orientation || info.Width != want.Width || info.Height != want.Height {
				t.Fatalf("info %+v, want orientation %d size %dx%d", info, c.Orientation, want.Width, want.Height)
			}
			if got.Width != want.Width || !bytes.Equal(got.Pix, want.Pix) {
				p, g, w := firstDiff(got, want)
				t.Fatalf("not upright: first diff at %v got %v want %v", p, g, w)
			}
			raw, info, err := decodeFile(t, fixture(t, c.File), Options{IgnoreOrientation: true})
			if err != nil {
				t.Fatal(err)
			}
			if info.Width != 23 || info.Height != 11 || !bytes.Equal(raw.Pix, stored.Pix) {
				t.Fatalf("IgnoreOrientation: got %dx%d, want the stored 23x11 pixels", info.Width, info.Height)
			}
		})
	}
}

// TestJPEGEXIF: the JPEG APP1 path gives orientation and the metadata the
// indexer stores.
func TestJPEGEXIF(t *testing.T) {
	got, info, err := decodeFile(t, fixture(t, "exif_rot6.jpg"), Options{})
	if err != nil {
		t.Fatal(err)
	}
	if info.StoredWidth != 48 || info.StoredHeight != 32 || info.Width != 32 || info.Height != 48 || info.Orientation != 6 {
		t.Fatalf("info %+v", info)
	}
	want := readPNGRGB(t, fixture(t, "gold_exif_rot6_upright.png"))
	// JPEG decoders differ by an IDCT rounding here and there; a wrong
	// rotation differs by tens of levels on this structured image.
	if maxd, mean := diffStats(got, want); mean > 1 || maxd > 12 {
		t.Fatalf("upright image differs from Pillow's exif_transpose: max %d mean %.3f", maxd, mean)
	}
	e := info.EXIF
	if e == nil {
		t.Fatal("no EXIF")
	}
	if e.Make != "imglish" || e.Model != "Fixture Cam 1" || e.LensModel != "Test Lens 35mm" ||
		e.DateTimeOriginal != "2021:07:04 12:34:56" || e.OffsetTimeOriginal != "+02:00" || e.Orientation != 6 {
		t.Fatalf("metadata %+v", e)
	}
	ts, zoned, ok := e.Time()
	if !ok || !zoned || ts.UTC().Format("2006-01-02T15:04:05") != "2021-07-04T10:34:56" {
		t.Fatalf("Time() = %v %v %v", ts, zoned, ok)
	}
	g := e.GPS
	wantLat := -(33 + 51.0/60 + 21.66/3600)
	wantLon := 151 + 12.0/60 + 30.0/3600
	if g == nil || math.Abs(g.Lat-wantLat) > 1e-9 || math.Abs(g.Lon-wantLon) > 1e-9 || !g.HasAlt || g.Alt != 58.5 {
		t.Fatalf("GPS %+v, want lat %v lon %v alt 58.5", g, wantLat, wantLon)
	}
	pi, err := Probe(bytes.NewReader(mustRead(t, fixture(t, "exif_rot6.jpg"))), Options{})
	if err != nil || pi.Width != 32 || pi.EXIF == nil || pi.EXIF.Model != "Fixture Cam 1" {
		t.Fatalf("Probe = %+v, %v", pi, err)
	}
}

func mustRead(t testing.TB, p string) []byte {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestBadInputs: self-made broken and hostile files give their sentinel.
func TestBadInputs(t *testing.T) {
	m := loadManifest(t)
	for _, c := range m.Cases {
		t.Run(c.File, func(t *testing.T) {
			opts := Options{}
			var want error
			switch c.Want {
			case "ok":
			case "corrupt":
				want = ErrCorrupt
			case "unsupported":
				want = ErrUnsupported
			case "too_large":
				want = ErrTooLarge
			case "too_large_at_1mp":
				want, opts.MaxPixels = ErrTooLarge, 1_000_000
			default:
				t.Fatalf("unknown expectation %q", c.Want)
			}
			_, _, err := decodeFile(t, fixture(t, c.File), opts)
			if want == nil {
				if err != nil {
					t.Fatalf("want success, got %v", err)
				}
				return
			}
			if !errors.Is(err, want) {
				t.Fatalf("got %v, want %v", err, want)
			}
			var pe *Error
			if !errors.As(err, &pe) || pe.Op == "" {
				t.Fatalf("error %v is not a *preprocess.Error", err)
			}
			if want == ErrTooLarge { // refused from the header: Probe says so too
				if _, err := Probe(bytes.NewReader(mustRead(t, fixture(t, c.File))), opts); !errors.Is(err, ErrTooLarge) {
					t.Fatalf("Probe: %v, want ErrTooLarge", err)
				}
			}
		})
	}
	if _, _, err := Decode(bytes.NewReader(make([]byte, 2000)), Options{MaxBytes: 1000}); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("MaxBytes: got %v, want ErrTooLarge", err)
	}
}

// TestMalformedManifest runs every file of ../shared/data/malformed against
// its expected behaviour. GUARD files must be refused from the header: an
// unguarded decode of five of them kills the process.
func TestMalformedManifest(t *testing.T) {
	dir := filepath.Join(sharedData(t), "malformed")
	rows := readTSV(t, filepath.Join(dir, "manifest.tsv"))
	counts := map[string]int{}
	for _, r := range rows {
		file, expect := r[0], r[2]
		kind := strings.Trim(strings.Fields(expect)[0], ":;,")
		goFails := strings.Contains(r[3], "Decode error")
		counts[kind]++
		t.Run(file, func(t *testing.T) {
			_, info, err := decodeFile(t, filepath.Join(dir, file), Options{})
			switch kind {
			case "GUARD":
				if !errors.Is(err, ErrTooLarge) {
					t.Fatalf("got %v, want ErrTooLarge", err)
				}
				if _, perr := Probe(bytes.NewReader(mustRead(t, filepath.Join(dir, file))), Options{}); !errors.Is(perr, ErrTooLarge) {
					t.Fatalf("Probe got %v: not refused from the header", perr)
				}
			case "REJECT":
				if !errors.Is(err, ErrCorrupt) && !errors.Is(err, ErrUnsupported) {
					t.Fatalf("got %v, want ErrCorrupt or ErrUnsupported", err)
				}
			case "ACCEPT", "SNIFF":
				// Where Go's own decoder fails on the data (recorded in the
				// manifest), a typed error is the honest outcome.
				if err != nil && !(goFails && (errors.Is(err, ErrCorrupt) || errors.Is(err, ErrUnsupported))) {
					t.Fatalf("got %v, want it decoded", err)
				}
				if err == nil && strings.Contains(file, "exif-orientation") && info.Orientation != 1 {
					t.Fatalf("orientation %d, want 1 for an out-of-range tag", info.Orientation)
				}
			default:
				t.Fatalf("unknown expectation %q", expect)
			}
		})
	}
	t.Logf("malformed: %v", counts)
	if counts["GUARD"] < 4 || counts["REJECT"] < 20 {
		t.Fatalf("manifest looks incomplete: %v", counts)
	}
}

// TestFormatsManifest: every file of ../shared/data/formats decodes, or
// gives ErrUnsupported (or ErrCorrupt where the manifest records that Go's
// decoder fails on the data) — never an untyped error.
func TestFormatsManifest(t *testing.T) {
	dir := filepath.Join(sharedData(t), "formats")
	rows := readTSV(t, filepath.Join(dir, "manifest.tsv"))
	var ok, unsupported, corrupt int
	for _, r := range rows {
		file, goResult := r[0], r[len(r)-1]
		t.Run(file, func(t *testing.T) {
			opts := Options{}
			if raceEnabled { // big files are decoded without -race; here they must still pass the header stage
				if info, err := Probe(bytes.NewReader(mustRead(t, filepath.Join(dir, file))), opts); err == nil && info.Width*info.Height > 500_000 {
					return
				}
			}
			_, info, err := decodeFile(t, filepath.Join(dir, file), opts)
			goOK := strings.HasPrefix(goResult, "OK")
			switch {
			case err == nil:
				ok++
				if !goOK && !strings.HasPrefix(file, "unsupported/") {
					t.Logf("decodes although Go alone failed: %s", goResult)
				}
				if info.Width <= 0 || info.Height <= 0 {
					t.Fatalf("info %+v", info)
				}
			case errors.Is(err, ErrUnsupported):
				unsupported++
				if goOK && !strings.HasPrefix(file, "unsupported/") {
					t.Fatalf("ErrUnsupported although Go decodes it: %v", err)
				}
			case errors.Is(err, ErrCorrupt) && strings.HasPrefix(goResult, "Decode error"):
				corrupt++
			default:
				t.Fatalf("got %v (Go alone: %s)", err, goResult)
			}
		})
	}
	t.Logf("formats: %d decode, %d unsupported, %d corrupt", ok, unsupported, corrupt)
}

// TestOrientationSharedData: every photo of ../shared/data/exif-orientation
// comes out at its display size and upright: after shrinking, each matches
// the orientation-1 image of its set.
func TestOrientationSharedData(t *testing.T) {
	dir := filepath.Join(sharedData(t), "exif-orientation")
	rows := readTSV(t, filepath.Join(dir, "orientation.tsv"))
	const side = 48
	refs := map[string]*RGB{}
	ref := func(set string) *RGB {
		if r, ok := refs[set]; ok {
			return r
		}
		img, _, err := decodeFile(t, filepath.Join(dir, set+"1.jpg"), Options{})
		if err != nil {
			t.Fatal(err)
		}
		refs[set] = Resize(img, side, side)
		return refs[set]
	}
	for _, r := range rows {
		file, wantSize := r[0], r[4]
		t.Run(file, func(t *testing.T) {
			if raceEnabled && strings.HasPrefix(file, "recurser/") && !strings.Contains("06", file[len(file)-5:len(file)-4]) {
				// Under -race only orientations 0 and 6 of the 1800×1200
				// set are decoded (size from Probe for the rest); all run without -race.
				info, err := Probe(bytes.NewReader(mustRead(t, filepath.Join(dir, file))), Options{})
				if err != nil || itoa(info.Width)+"x"+itoa(info.Height) != wantSize {
					t.Fatalf("Probe: %+v %v, want %s", info, err, wantSize)
				}
				return
			}
			img, info, err := decodeFile(t, filepath.Join(dir, file), Options{})
			if err != nil {
				t.Fatal(err)
			}
			if got := itoa(info.Width) + "x" + itoa(info.Height); got != wantSize || img.Width != info.Width {
				t.Fatalf("display size %s, want %s", got, wantSize)
			}
			set := file[:len(file)-len("1.jpg")]
			small := Resize(img, side, side)
			_, mean := diffStats(small, ref(set))
			// The sets differ by their digit and JPEG re-encoding (Pillow's
			// exif_transpose gives a mean of 13.7 on ianare, 0.4 on
			// recurser); a wrong rotation or mirror gives 40 or more. Require
			// our result to be close.
			if mean > 20 {
				t.Fatalf("not upright: mean difference %.1f from %s1.jpg", mean, set)
			}
			// Every other symmetry of our (squashed, square) result must be
			// clearly worse, so near-symmetric content cannot pass by chance.
			for o := 2; o <= 8; o++ {
				cp := &RGB{Width: side, Height: side, Pix: bytes.Clone(small.Pix)}
				if _, m := diffStats(orient(cp, o), ref(set)); m < mean+10 {
					t.Fatalf("transform %d of the result matches nearly as well (%.1f) as the result (%.1f)", o, m, mean)
				}
			}
		})
	}
}

func itoa(v int) string { return strings.TrimSpace(strings.Repeat(" ", 0) + fmtInt(v)) }

func fmtInt(v int) string {
	if v == 0 {
		return "0"
	}
	var b []byte
	for ; v > 0; v /= 10 {
		b = append([]byte{byte('0' + v%10)}, b...)
	}
	return string(b)
}

func readTSV(t testing.TB, path string) [][]string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var rows [][]string
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	for first := true; sc.Scan(); first = false {
		if first || strings.TrimSpace(sc.Text()) == "" || strings.HasPrefix(sc.Text(), "#") {
			continue
		}
		rows = append(rows, strings.Split(sc.Text(), "\t"))
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return rows
}

// TestConcurrentDecode: Decode and File share no state.
func TestConcurrentDecode(t *testing.T) {
	want, _, err := File(t.Context(), fixture(t, "fix_rgba.png"), Options{Size: 64})
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for i := 0; i < 8; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			got, _, err := File(t.Context(), fixture(t, "fix_rgba.png"), Options{Size: 64})
			if err == nil && !equalF32(got, want) {
				err = errors.New("different tensor")
			}
			errs <- err
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
}

func equalF32(a, b []float32) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if math.Float32bits(a[i]) != math.Float32bits(b[i]) {
			return false
		}
	}
	return true
}
