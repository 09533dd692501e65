package preprocess

import (
	"bytes"
	"encoding/binary"
	"image"
	"image/color"
	"image/jpeg"
	"path/filepath"
	"testing"
	"time"
)

// exifTag is one ASCII entry of a self-made EXIF block.
type exifTag struct {
	tag uint16
	val string
}

// exifBlock builds a big-endian TIFF-structured EXIF block: IFD0 holds ifd0
// and, when exif is not empty, a pointer (0x8769) to an Exif IFD holding
// exif. Strings are written NUL-terminated, out of line when longer than
// four bytes, as cameras write them.
func exifBlock(ifd0, exif []exifTag) []byte {
	bo := binary.BigEndian
	n0 := len(ifd0)
	if len(exif) > 0 {
		n0++
	}
	// Layout: header (8), IFD0, Exif IFD, then the strings.
	exifOff := 8 + 2 + 12*n0 + 4
	dataOff := exifOff
	if len(exif) > 0 {
		dataOff += 2 + 12*len(exif) + 4
	}
	var data []byte
	entry := func(b []byte, t exifTag) []byte {
		s := append([]byte(t.val), 0)
		b = bo.AppendUint16(b, t.tag)
		b = bo.AppendUint16(b, 2) // ASCII
		b = bo.AppendUint32(b, uint32(len(s)))
		if len(s) <= 4 {
			return append(b, append(s, make([]byte, 4-len(s))...)...)
		}
		b = bo.AppendUint32(b, uint32(dataOff+len(data)))
		data = append(data, s...)
		return b
	}
	out := bo.AppendUint16([]byte("MM\x00*\x00\x00\x00\x08"), uint16(n0))
	for _, t := range ifd0 {
		out = entry(out, t)
	}
	if len(exif) > 0 {
		out = bo.AppendUint16(out, 0x8769)
		out = bo.AppendUint16(out, 4) // LONG
		out = bo.AppendUint32(out, 1)
		out = bo.AppendUint32(out, uint32(exifOff))
	}
	out = bo.AppendUint32(out, 0) // no next IFD
	if len(exif) > 0 {
		out = bo.AppendUint16(out, uint16(len(exif)))
		for _, t := range exif {
			out = entry(out, t)
		}
		out = bo.AppendUint32(out, 0)
	}
	return append(out, data...)
}

// exifJPEG is a small structured JPEG (a gradient with a bar) carrying the
// EXIF block in an APP1 segment right after SOI.
func exifJPEG(t testing.TB, tiff []byte) []byte {
	t.Helper()
	img := image.NewRGBA(image.Rect(0, 0, 24, 16))
	for y := 0; y < 16; y++ {
		for x := 0; x < 24; x++ {
			v := uint8(x * 10)
			if x/6 == 2 {
				v = 255 - uint8(y*15)
			}
			img.Set(x, y, color.RGBA{v, uint8(y * 15), 128, 255})
		}
	}
	var buf bytes.Buffer
	if err := jpeg.Encode(&buf, img, &jpeg.Options{Quality: 90}); err != nil {
		t.Fatal(err)
	}
	jpg := buf.Bytes()
	seg := append([]byte("Exif\x00\x00"), tiff...)
	app1 := binary.BigEndian.AppendUint16([]byte{0xff, 0xe1}, uint16(len(seg)+2))
	out := append(append([]byte{}, jpg[:2]...), app1...)
	out = append(out, seg...)
	return append(out, jpg[2:]...)
}

// TestEXIFDateFallback: a photo's time comes from DateTimeOriginal, else
// DateTimeDigitized, else IFD0's DateTime, each with its own offset tag;
// a tag that does not parse passes to the next. Self-made JPEGs through
// Probe, so the tags are read from the file, not set by hand.
func TestEXIFDateFallback(t *testing.T) {
	const (
		orig = "2021:07:04 12:34:56"
		dig  = "2020:01:02 03:04:05"
		mod  = "2019:02:04 18:46:29"
	)
	for _, tc := range []struct {
		name     string
		ifd0     []exifTag // DateTime 0x0132
		exif     []exifTag // 0x9003, 0x9004, 0x9010, 0x9011, 0x9012
		want     string    // RFC 3339, "" for no time
		wantZone bool
	}{
		{"only DateTime", []exifTag{{0x0132, mod}}, nil, "2019-02-04T18:46:29Z", false},
		{"only DateTime with OffsetTime", []exifTag{{0x0132, mod}}, []exifTag{{0x9010, "-05:00"}}, "2019-02-04T18:46:29-05:00", true},
		{"only DateTimeDigitized", nil, []exifTag{{0x9004, dig}}, "2020-01-02T03:04:05Z", false},
		{"DateTimeDigitized with OffsetTimeDigitized", nil, []exifTag{{0x9004, dig}, {0x9012, "+09:00"}}, "2020-01-02T03:04:05+09:00", true},
		{"DateTimeDigitized over DateTime", []exifTag{{0x0132, mod}}, []exifTag{{0x9004, dig}, {0x9010, "-05:00"}}, "2020-01-02T03:04:05Z", false},
		{"all three: Original wins", []exifTag{{0x0132, mod}}, []exifTag{{0x9003, orig}, {0x9004, dig}}, "2021-07-04T12:34:56Z", false},
		{"all three with offsets: Original's offset", []exifTag{{0x0132, mod}},
			[]exifTag{{0x9003, orig}, {0x9004, dig}, {0x9010, "-05:00"}, {0x9011, "+02:00"}, {0x9012, "+09:00"}}, "2021-07-04T12:34:56+02:00", true},
		{"Original without its offset takes no other", []exifTag{{0x0132, mod}},
			[]exifTag{{0x9003, orig}, {0x9010, "-05:00"}, {0x9012, "+09:00"}}, "2021-07-04T12:34:56Z", false},
		{"unset Original clock falls back", []exifTag{{0x0132, mod}}, []exifTag{{0x9003, "0000:00:00 00:00:00"}}, "2019-02-04T18:46:29Z", false},
		{"ISO 8601 DateTime", []exifTag{{0x0132, "2012-09-17T15:53:45-04:00"}}, nil, "2012-09-17T15:53:45-04:00", true},
		{"no date", []exifTag{{0x010f, "imglish"}}, []exifTag{{0x9011, "+02:00"}}, "", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			info, err := ProbeBytes(exifJPEG(t, exifBlock(tc.ifd0, tc.exif)), Options{})
			if err != nil {
				t.Fatal(err)
			}
			if info.EXIF == nil {
				t.Fatal("no EXIF parsed")
			}
			got, zone, ok := info.EXIF.Time()
			if tc.want == "" {
				if ok {
					t.Fatalf("Time() = %v, want none", got)
				}
				return
			}
			want, err := time.Parse(time.RFC3339, tc.want)
			if err != nil {
				t.Fatal(err)
			}
			_, gotOff := got.Zone()
			_, wantOff := want.Zone()
			if !ok || !got.Equal(want) || gotOff != wantOff || zone != tc.wantZone {
				t.Fatalf("Time() = %v zone %v ok %v; want %v zone %v (EXIF %+v)", got, zone, ok, want, tc.wantZone, info.EXIF)
			}
		})
	}
}

// TestSharedPhotoDates: photos of ../shared/data/photos that carry only
// IFD0's DateTime get it as their time. The expected values were read once
// with Pillow 9.4 (Image.getexif()[0x0132]) and are written here, so that
// the test needs no Python; one photo with DateTimeOriginal and
// OffsetTimeOriginal checks that the fallback does not override them.
func TestSharedPhotoDates(t *testing.T) {
	dir := filepath.Join(sharedData(t), "photos")
	for _, tc := range []struct {
		file     string
		want     string // RFC 3339
		wantZone bool
	}{
		{"gnome-avatars/cat.jpg", "2019-02-06T09:53:11Z", false},
		{"opencv/aloeL.jpg", "2011-02-01T12:39:51Z", false},
		{"pillow/flower2.jpg", "2013-07-04T17:24:41Z", false},
		{"ianare-exif-samples/xmp/BlueSquare.jpg", "2005-09-07T15:09:51Z", false},
		{"ianare-exif-samples/tiff/DudleyLeavittUtah.tiff", "2009-09-26T01:11:52Z", false},
		{"skimage/hubble_deep_field.jpg", "2012-09-17T15:53:45-04:00", true},
		{"ianare-exif-samples/mobile/HMD_Nokia_8.3_5G.jpg", "2022-08-14T14:12:31+03:00", true},
	} {
		t.Run(tc.file, func(t *testing.T) {
			info, err := ProbeBytes(mustRead(t, filepath.Join(dir, filepath.FromSlash(tc.file))), Options{})
			if err != nil {
				t.Fatal(err)
			}
			want, err := time.Parse(time.RFC3339, tc.want)
			if err != nil {
				t.Fatal(err)
			}
			got, zone, ok := info.EXIF.Time()
			_, gotOff := got.Zone()
			_, wantOff := want.Zone()
			if !ok || !got.Equal(want) || gotOff != wantOff || zone != tc.wantZone {
				t.Fatalf("Time() = %v zone %v ok %v; want %v zone %v (EXIF %+v)", got, zone, ok, want, tc.wantZone, info.EXIF)
			}
		})
	}
}
