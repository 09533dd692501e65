package indexer

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"imglish/encoder/preprocess"
	"imglish/internal/testenv"
)

// ftyp returns an ISO-BMFF ftyp box of major brand major (minor version 0)
// listing compat, as phones and encoders write them.
func ftyp(major string, compat ...string) []byte {
	b := binary.BigEndian.AppendUint32(nil, uint32(16+4*len(compat)))
	b = append(b, "ftyp"+major+"\x00\x00\x00\x00"...)
	for _, c := range compat {
		b = append(b, c...)
	}
	return b
}

// videoHeader is the head of the reported phone videos (MP4, isom).
var videoHeader = ftyp("isom", "isom", "iso2", "avc1", "mp41")

// TestLooksLikeImageFtyp: an ISO-BMFF file is an image only with a brand of
// the HEIF family, as its major brand or a compatible brand within its ftyp
// box; the brands of videos and MIAF's constraint brands alone are not.
func TestLooksLikeImageFtyp(t *testing.T) {
	many := make([]string, 20) // an image brand past sniffLen
	for i := range many {
		many[i] = "iso" + string(rune('a'+i))
	}
	many[19] = "mif1"
	short := ftyp("isom", "mp41")
	short = append(short, "heic"...) // after the box: not one of its brands
	tiny := ftyp("heic")
	binary.BigEndian.PutUint32(tiny, 12) // a box too short for its own fields
	for _, tc := range []struct {
		name string
		head []byte
		want bool
	}{
		{"MP4 of the report (isom, avc1, mp41)", videoHeader, false},
		{"MP4 mp42", ftyp("mp42", "isom", "mp42"), false},
		{"QuickTime MOV (iPhone video)", ftyp("qt  ", "qt  "), false},
		{"3GP", ftyp("3gp4", "isom", "3gp4"), false},
		{"M4V", ftyp("M4V ", "M4V ", "M4A ", "mp42", "isom"), false},
		{"miaf alone", ftyp("isom", "miaf"), false},
		{"MIAF profile brands alone", ftyp("mp42", "miaf", "MiHE", "MA1B", "1pic"), false},
		{"image brand after the box", short, false},
		{"ftyp box shorter than 16 bytes", tiny, false},
		{"iPhone HEIC", ftyp("heic", "mif1", "heic"), true},
		{"HEIF major mif1", ftyp("mif1", "heic"), true},
		{"10-bit HEIC", ftyp("heix", "mif1", "heix"), true},
		{"HEIC sequence", ftyp("hevc", "msf1", "hevc"), true},
		{"AVIF (libavif)", ftyp("avif", "avif", "mif1", "miaf", "MA1B"), true},
		{"AVIF sequence", ftyp("avis", "avis", "msf1", "miaf", "MA1B"), true},
		{"AVIF low-overhead (mif3)", ftyp("mif3"), true},
		{"image brand only compatible", ftyp("isom", "iso8", "miaf", "mif1", "avif"), true},
		{"JPEG in HEIF", ftyp("jpeg", "mif1"), true},
		{"VVC image", ftyp("vvic", "mif2"), true},
		{"image brand past sniffLen", ftyp("isom", many...), true},
		{"JPEG", []byte{0xFF, 0xD8, 0xFF, 0xE0}, true},
		{"PNG", []byte("\x89PNG\r\n\x1a\n\x00\x00\x00\x0dIHDR"), true},
		{"text", []byte("hello, world, this is not an image"), false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := looksLikeImage(tc.head); got != tc.want {
				t.Errorf("looksLikeImage(% x) = %v, want %v", tc.head, got, tc.want)
			}
		})
	}
}

// TestReadHead: readHead reads sniffLen bytes, and the rest of a longer ftyp
// box (up to maxFtypLen) so that its last compatible brands count; never
// more, whatever the file's size or the box's claim.
func TestReadHead(t *testing.T) {
	long := make([]string, 40)
	for i := range long {
		long[i] = "mp4" + string(rune('a'+i%26))
	}
	long[39] = "avif"
	huge := ftyp("isom", "isom")
	binary.BigEndian.PutUint32(huge, 1<<30) // a box claiming a gigabyte
	for _, tc := range []struct {
		name     string
		file     []byte
		size     int64 // as stat saw it
		wantRead int64
		image    bool
	}{
		{"video", append(videoHeader, make([]byte, 4096)...), 4096 + int64(len(videoHeader)), sniffLen, false},
		{"long ftyp box with a late image brand", append(ftyp("isom", long...), make([]byte, 4096)...), 4096 + 16 + 4*40, 16 + 4*40, true},
		{"ftyp box claiming 1 GiB", append(huge, make([]byte, 4096)...), 4096 + int64(len(huge)), sniffLen, false},
		{"file shorter than sniffLen", ftyp("heic", "mif1"), 20, 20, true},
		{"file shrunk since the stat", ftyp("heic", "mif1"), 1000, 20, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cr := &testenv.CountingReader{R: bytes.NewReader(tc.file)}
			head, err := readHead(cr, tc.size)
			if err != nil {
				t.Fatal(err)
			}
			if cr.N != tc.wantRead || int64(len(head)) != tc.wantRead {
				t.Errorf("read %d bytes, head of %d; want %d", cr.N, len(head), tc.wantRead)
			}
			if got := looksLikeImage(head); got != tc.image {
				t.Errorf("looksLikeImage = %v, want %v", got, tc.image)
			}
		})
	}
	if _, err := readHead(bytes.NewReader(nil), 0); !errors.Is(err, io.EOF) {
		t.Errorf("empty file: %v, want io.EOF", err)
	}
}

// sparseFile writes head at the start of a file of size bytes (a hole
// after it, so that a 64 MiB video costs no disk).
func sparseFile(t *testing.T, path string, head []byte, size int64) {
	t.Helper()
	if err := os.WriteFile(path, head, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(path, size); err != nil {
		t.Fatal(err)
	}
}

// readerRun is a run that can read files (run.read) without a store or an
// encoder.
func readerRun() *run {
	return &run{ix: &Indexer{opts: Options{MaxFileBytes: 256 << 20}, open: openFile}}
}

// TestReadSniffsFirst: run.read refuses a large video after its first bytes
// without allocating a buffer of its size (the report: 16 MP4s of 250 MB
// took the indexer to 2.9 GB of RSS), while HEIF and AVIF files (fixtures
// made here) are read in full and reach preprocess, which refuses them as
// unsupported.
func TestReadSniffsFirst(t *testing.T) {
	dir := t.TempDir()
	const videoSize = 64 << 20
	for _, tc := range []struct {
		name    string
		head    []byte
		size    int64
		readErr error // from run.read
		pxErr   error // from the codec, when read succeeds
	}{
		{"v.mp4", videoHeader, videoSize, ErrNotImage, nil},
		{"v.mov", ftyp("qt  ", "qt  "), videoSize, ErrNotImage, nil},
		{"v.3gp", ftyp("3gp4", "isom", "3gp4"), videoSize, ErrNotImage, nil},
		{"p.heic", ftyp("heic", "mif1", "heic"), 4096, nil, preprocess.ErrUnsupported},
		{"p.avif", ftyp("avif", "avif", "mif1", "miaf", "MA1B"), 4096, nil, preprocess.ErrUnsupported},
		{"p.hif", ftyp("mp42", "mp42", "isom", "mif1"), 4096, nil, preprocess.ErrUnsupported},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := filepath.Join(dir, tc.name)
			sparseFile(t, p, tc.head, tc.size)
			r := readerRun()
			rec := fileRecord{Path: p}
			var before, after runtime.MemStats
			runtime.ReadMemStats(&before)
			data, err := r.read(&rec)
			runtime.ReadMemStats(&after)
			if !errors.Is(err, tc.readErr) || (tc.readErr == nil) != (err == nil) {
				t.Fatalf("read: %v, want %v", err, tc.readErr)
			}
			if tc.readErr != nil {
				// The file's buffer would be 64 MiB; allow for the test's own.
				if alloc := after.TotalAlloc - before.TotalAlloc; alloc > 1<<20 {
					t.Errorf("refusing %s allocated %d bytes", tc.name, alloc)
				}
				if n := r.ix.prog.bytes.Load(); n != 0 {
					t.Errorf("refusing %s counted %d bytes read", tc.name, n)
				}
				return
			}
			if int64(len(data)) != tc.size || rec.Size != tc.size {
				t.Errorf("read %d bytes, record size %d; want %d", len(data), rec.Size, tc.size)
			}
			if _, err := (pixelCodec{}).pixels(data); !errors.Is(err, tc.pxErr) {
				t.Errorf("pixels: %v, want %v", err, tc.pxErr)
			}
		})
	}
}

// TestIndexVideos indexes a folder of sparse 64 MiB phone videos beside
// images and HEIF/AVIF fixtures: the videos are error records without
// being read (Progress.Bytes counts only the images and the HEIF/AVIF
// files, which preprocess then refuses), and the images are embedded.
func TestIndexVideos(t *testing.T) {
	root := t.TempDir()
	images := collection(t, filepath.Join(root, "photos"), 2, 7)
	var wantBytes int64
	for _, p := range images {
		st, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		wantBytes += st.Size()
	}
	want := map[string]bool{} // error record expected
	for i, h := range [][]byte{videoHeader, ftyp("qt  ", "qt  "), ftyp("mp42", "isom", "mp42"), ftyp("3gp4", "isom", "3gp4")} {
		p := filepath.Join(root, "DCIM", "VID_"+string(rune('0'+i))+".mp4")
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		sparseFile(t, p, h, 64<<20)
		want[p] = true
	}
	for _, name := range []string{"IMG_1.HEIC", "IMG_2.avif"} {
		p := filepath.Join(root, "DCIM", name)
		h := ftyp("heic", "mif1", "heic")
		if strings.HasSuffix(name, ".avif") {
			h = ftyp("avif", "avif", "mif1", "miaf")
		}
		sparseFile(t, p, h, 2048)
		want[p] = true
		wantBytes += 2048
	}
	e := newEnv(t, Options{})
	sum := e.run(root)
	if sum.Bytes != wantBytes || sum.Failed != int64(len(want)) || sum.Embedded != int64(len(images)) {
		t.Errorf("run: %+v; want %d bytes read, %d failed, %d embedded", sum.Progress, wantBytes, len(want), len(images))
	}
	e.checkConsistent(root, want)
}

// TestSharedISOBMFF reads the real HEIF and AVIF files of
// ../shared/data/formats (manifest.tsv): they pass the sniff, are read in
// full and refused by preprocess as unsupported, as before the sniff
// looked at brands; and every file the manifest says Go decodes still
// passes the sniff.
func TestSharedISOBMFF(t *testing.T) {
	dir := testenv.SharedData(t, "formats")
	mf, err := os.Open(filepath.Join(dir, "manifest.tsv"))
	if err != nil {
		t.Skipf("skipping: no manifest of the shared format samples: %v", err)
	}
	defer mf.Close()
	sc := bufio.NewScanner(mf)
	sc.Scan() // header
	var heif, decodable int
	for sc.Scan() {
		f := strings.Split(sc.Text(), "\t")
		if len(f) < 4 {
			continue
		}
		p := filepath.Join(dir, filepath.FromSlash(f[0]))
		isHEIF := strings.Contains(f[1], "HEIF") || strings.Contains(f[1], "AVIF")
		if !isHEIF && !strings.HasPrefix(f[3], "OK ") {
			continue
		}
		r := readerRun()
		data, err := r.read(&fileRecord{Path: p})
		if err != nil {
			t.Errorf("%s (%s): read: %v", f[0], f[1], err)
			continue
		}
		if !isHEIF {
			decodable++
			continue
		}
		heif++
		if _, err := (pixelCodec{}).pixels(data); !errors.Is(err, preprocess.ErrUnsupported) {
			t.Errorf("%s (%s): pixels: %v, want ErrUnsupported", f[0], f[1], err)
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	if heif < 3 || decodable == 0 {
		t.Errorf("%d HEIF/AVIF files and %d decodable ones in the manifest; want hopper.avif, samplefilehub.heif, star.avifs and more", heif, decodable)
	}
	t.Logf("%d HEIF/AVIF files, %d decodable ones", heif, decodable)
}
