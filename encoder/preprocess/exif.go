package preprocess

import (
	"encoding/binary"
	"math"
	"strings"
	"time"
)

// Metadata is what imglish keeps from an image's EXIF block. Strings are
// trimmed of NULs and spaces; absent tags are zero values.
type Metadata struct {
	// Orientation is the raw tag 0x0112 (0 when absent; may be out of 1..8).
	Orientation int `json:"orientation,omitempty"`
	// DateTimeOriginal is tag 0x9003 as written, "YYYY:MM:DD HH:MM:SS".
	DateTimeOriginal string `json:"date_time_original,omitempty"`
	// OffsetTimeOriginal is tag 0x9011, e.g. "+02:00", when present.
	OffsetTimeOriginal string `json:"offset_time_original,omitempty"`
	// DateTimeDigitized is tag 0x9004 and OffsetTimeDigitized tag 0x9012:
	// when the image was stored digitally, the first fallback of Time.
	DateTimeDigitized   string `json:"date_time_digitized,omitempty"`
	OffsetTimeDigitized string `json:"offset_time_digitized,omitempty"`
	// DateTime is IFD0's tag 0x0132 and OffsetTime the Exif IFD's 0x9010:
	// when the file was last changed, Time's last resort. Scanners, editors
	// and avatar sets often write only this one.
	DateTime   string `json:"date_time,omitempty"`
	OffsetTime string `json:"offset_time,omitempty"`
	Make       string `json:"make,omitempty"`
	Model      string `json:"model,omitempty"`
	LensModel  string `json:"lens_model,omitempty"`
	// GPS is nil unless both latitude and longitude parsed.
	GPS *GPS `json:"gps,omitempty"`
}

// GPS is a position in decimal degrees (south and west negative).
type GPS struct {
	Lat float64 `json:"lat"`
	Lon float64 `json:"lon"`
	// Alt is metres above sea level (negative below); HasAlt says whether the file gave one.
	Alt    float64 `json:"alt,omitempty"`
	HasAlt bool    `json:"has_alt,omitempty"`
}

// exifTimeLayout is how EXIF writes a date and time, without a zone.
const exifTimeLayout = "2006:01:02 15:04:05"

// Time is when the photo was taken: the first of DateTimeOriginal,
// DateTimeDigitized and DateTime that parses, each with its own offset tag
// (OffsetTimeOriginal, OffsetTimeDigitized, OffsetTime). With the offset
// the result carries that fixed zone and hasZone is true; without it the
// wall clock is returned in UTC and hasZone is false (EXIF has no zone of
// its own). A tag that does not parse, such as the "0000:00:00 00:00:00"
// cameras write before their clock is set, passes to the next. ok is false
// when none parses, and the caller falls back to the file's mtime.
func (m *Metadata) Time() (t time.Time, hasZone bool, ok bool) {
	if m == nil {
		return time.Time{}, false, false
	}
	for _, c := range [...]struct{ date, offset string }{
		{m.DateTimeOriginal, m.OffsetTimeOriginal},
		{m.DateTimeDigitized, m.OffsetTimeDigitized},
		{m.DateTime, m.OffsetTime},
	} {
		if t, hasZone, ok := exifTime(c.date, c.offset); ok {
			return t, hasZone, true
		}
	}
	return time.Time{}, false, false
}

// exifTime parses one EXIF date and its offset tag (which may be empty or
// malformed, leaving the wall clock in UTC).
func exifTime(date, offset string) (t time.Time, hasZone bool, ok bool) {
	if date == "" {
		return time.Time{}, false, false
	}
	t, err := time.Parse(exifTimeLayout, date)
	if err != nil {
		// Some editors write ISO 8601 with its zone instead
		// (skimage's hubble_deep_field.jpg: "2012-09-17T15:53:45-04:00").
		if t, err := time.Parse(time.RFC3339, date); err == nil {
			return t, true, true
		}
		return time.Time{}, false, false
	}
	if off, err := time.Parse("-07:00", offset); err == nil {
		_, secs := off.Zone()
		loc := time.FixedZone(offset, secs)
		return time.Date(t.Year(), t.Month(), t.Day(), t.Hour(), t.Minute(), t.Second(), 0, loc), true, true
	}
	return t, false, true
}

// Limits that bound the EXIF walk: a hostile block costs at most a few
// thousand entry reads.
const (
	maxIFDEntries = 512
	maxStringLen  = 256
)

// tiffReader reads a TIFF-structured EXIF block. Every read is bounds
// checked; a bad offset yields zero values, never a panic.
type tiffReader struct {
	b  []byte
	bo binary.ByteOrder
}

// parseEXIF parses a TIFF-structured block (as found after "Exif\0\0", in a
// PNG eXIf chunk, or a whole TIFF file). It returns nil when b is not TIFF.
func parseEXIF(b []byte) *Metadata {
	if len(b) < 8 {
		return nil
	}
	var r tiffReader
	switch string(b[:4]) {
	case "II*\x00":
		r = tiffReader{b, binary.LittleEndian}
	case "MM\x00*":
		r = tiffReader{b, binary.BigEndian}
	default:
		return nil
	}
	m := &Metadata{}
	var exifIFD, gpsIFD uint32
	r.walk(r.bo.Uint32(b[4:]), func(tag, typ uint16, count, off uint32) {
		switch tag {
		case 0x0112:
			if v, ok := r.uint(typ, count, off); ok {
				m.Orientation = int(min(v, math.MaxInt32))
			}
		case 0x010f:
			m.Make = r.ascii(typ, count, off)
		case 0x0110:
			m.Model = r.ascii(typ, count, off)
		case 0x0132:
			m.DateTime = r.ascii(typ, count, off)
		case 0x8769:
			exifIFD, _ = r.uint(typ, count, off)
		case 0x8825:
			gpsIFD, _ = r.uint(typ, count, off)
		}
	})
	if exifIFD != 0 {
		r.walk(exifIFD, func(tag, typ uint16, count, off uint32) {
			switch tag {
			case 0x9003:
				m.DateTimeOriginal = r.ascii(typ, count, off)
			case 0x9004:
				m.DateTimeDigitized = r.ascii(typ, count, off)
			case 0x9010:
				m.OffsetTime = r.ascii(typ, count, off)
			case 0x9011:
				m.OffsetTimeOriginal = r.ascii(typ, count, off)
			case 0x9012:
				m.OffsetTimeDigitized = r.ascii(typ, count, off)
			case 0xa434:
				m.LensModel = r.ascii(typ, count, off)
			}
		})
	}
	if gpsIFD != 0 {
		var latRef, lonRef string
		var lat, lon, alt []float64
		altRef := uint32(0)
		r.walk(gpsIFD, func(tag, typ uint16, count, off uint32) {
			switch tag {
			case 1:
				latRef = r.ascii(typ, count, off)
			case 2:
				lat = r.rationals(typ, count, off)
			case 3:
				lonRef = r.ascii(typ, count, off)
			case 4:
				lon = r.rationals(typ, count, off)
			case 5:
				altRef, _ = r.uint(typ, count, off)
			case 6:
				alt = r.rationals(typ, count, off)
			}
		})
		la, okLat := dms(lat)
		lo, okLon := dms(lon)
		if okLat && okLon && math.Abs(la) <= 90 && math.Abs(lo) <= 180 {
			if strings.HasPrefix(latRef, "S") {
				la = -la
			}
			if strings.HasPrefix(lonRef, "W") {
				lo = -lo
			}
			g := &GPS{Lat: la, Lon: lo}
			if len(alt) >= 1 && !math.IsNaN(alt[0]) {
				g.Alt, g.HasAlt = alt[0], true
				if altRef == 1 {
					g.Alt = -g.Alt
				}
			}
			m.GPS = g
		}
	}
	return m
}

// dms turns degrees, minutes, seconds rationals into decimal degrees.
func dms(v []float64) (float64, bool) {
	if len(v) == 0 {
		return 0, false
	}
	d := 0.0
	for i, div := range []float64{1, 60, 3600} {
		if i >= len(v) {
			break
		}
		if math.IsNaN(v[i]) || v[i] < 0 {
			return 0, false
		}
		d += v[i] / div
	}
	return d, true
}

// walk visits the entries of the IFD at off. Offsets outside the block end
// the walk silently.
func (r tiffReader) walk(off uint32, visit func(tag, typ uint16, count, valOff uint32)) {
	if uint64(off)+2 > uint64(len(r.b)) {
		return
	}
	n := int(r.bo.Uint16(r.b[off:]))
	n = min(n, maxIFDEntries)
	for i := 0; i < n; i++ {
		e := uint64(off) + 2 + uint64(i)*12
		if e+12 > uint64(len(r.b)) {
			return
		}
		ent := r.b[e : e+12]
		visit(r.bo.Uint16(ent), r.bo.Uint16(ent[2:]), r.bo.Uint32(ent[4:]), uint32(e+8))
	}
}

// typeSize is the byte size of one value of a TIFF field type (0 if unknown).
func typeSize(typ uint16) uint64 {
	switch typ {
	case 1, 2, 6, 7:
		return 1
	case 3, 8:
		return 2
	case 4, 9, 11:
		return 4
	case 5, 10, 12:
		return 8
	}
	return 0
}

// data returns the bytes of a field's values: inline in the entry when they
// fit in four bytes, else at the offset the entry holds.
func (r tiffReader) data(typ uint16, count, entryVal uint32) []byte {
	sz := typeSize(typ)
	if sz == 0 || count == 0 {
		return nil
	}
	total := sz * uint64(count)
	if total > 1<<20 {
		return nil
	}
	start := uint64(entryVal)
	if total > 4 {
		start = uint64(r.bo.Uint32(r.b[entryVal:]))
	}
	if start+total > uint64(len(r.b)) {
		return nil
	}
	return r.b[start : start+total]
}

// uint reads the first value of a BYTE, SHORT or LONG field.
func (r tiffReader) uint(typ uint16, count, entryVal uint32) (uint32, bool) {
	d := r.data(typ, count, entryVal)
	if d == nil {
		return 0, false
	}
	switch typ {
	case 1:
		return uint32(d[0]), true
	case 3:
		return uint32(r.bo.Uint16(d)), true
	case 4:
		return r.bo.Uint32(d), true
	}
	return 0, false
}

// ascii reads an ASCII (or, leniently, UNDEFINED/BYTE) field as a string.
func (r tiffReader) ascii(typ uint16, count, entryVal uint32) string {
	if typ != 2 && typ != 7 && typ != 1 {
		return ""
	}
	d := r.data(typ, count, entryVal)
	if i := indexByte(d, 0); i >= 0 {
		d = d[:i]
	}
	if len(d) > maxStringLen {
		d = d[:maxStringLen]
	}
	s := strings.TrimSpace(strings.ToValidUTF8(string(d), ""))
	return strings.Map(func(c rune) rune {
		if c < 0x20 || c == 0x7f {
			return -1
		}
		return c
	}, s)
}

func indexByte(b []byte, c byte) int {
	for i, v := range b {
		if v == c {
			return i
		}
	}
	return -1
}

// rationals reads a RATIONAL or SRATIONAL field; a zero denominator gives NaN.
func (r tiffReader) rationals(typ uint16, count, entryVal uint32) []float64 {
	if typ != 5 && typ != 10 {
		return nil
	}
	d := r.data(typ, min(count, 16), entryVal)
	out := make([]float64, 0, len(d)/8)
	for i := 0; i+8 <= len(d); i += 8 {
		num, den := r.bo.Uint32(d[i:]), r.bo.Uint32(d[i+4:])
		var v float64
		switch {
		case den == 0:
			v = math.NaN()
		case typ == 10:
			v = float64(int32(num)) / float64(int32(den))
		default:
			v = float64(num) / float64(den)
		}
		out = append(out, v)
	}
	return out
}
