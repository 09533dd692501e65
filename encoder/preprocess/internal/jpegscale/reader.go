// Copyright 2009 The Go Authors. All rights reserved.
// Use of this source code is governed by a BSD-style
// license that can be found in the LICENSE file.

package jpegscale

import (
	"errors"
	"image"
)

// A FormatError reports that the input is not a valid JPEG.
type FormatError string

func (e FormatError) Error() string { return "invalid JPEG format: " + string(e) }

// An UnsupportedError reports that the input uses a valid but unimplemented
// JPEG feature.
type UnsupportedError string

func (e UnsupportedError) Error() string { return "unsupported JPEG feature: " + string(e) }

// ErrFallback means the image is a valid kind that this package does not
// scale (CMYK, YCCK, RGB-coded, unusual sampling factors): decode it at full
// size with image/jpeg instead.
var ErrFallback = errors.New("jpegscale: kind not scaled, use a full decode")

// errShort means the entropy-coded data ended (or hit a marker) before the
// blocks it must hold were complete.
var errShort = FormatError("short Huffman data")

var errUnsupportedSubsamplingRatio = UnsupportedError("luma/chroma subsampling ratio")

// component is a frame component, specified in section B.2.2.
type component struct {
	h, v int   // sampling factors
	c    uint8 // component identifier
	tq   uint8 // quantization table selector
	// k is the side of this component's IDCT output for one 8×8 block, and
	// plane, stride its decoded samples.
	k      int
	plane  []byte
	stride int
}

const (
	dcTable = 0
	acTable = 1
	maxTc   = 1
	maxTh   = 3
	maxTq   = 3

	maxComponents = 4
	blockSize     = 64
)

const (
	sof0Marker  = 0xc0
	sof1Marker  = 0xc1
	sof2Marker  = 0xc2
	dhtMarker   = 0xc4
	rst0Marker  = 0xd0
	rst7Marker  = 0xd7
	soiMarker   = 0xd8
	eoiMarker   = 0xd9
	sosMarker   = 0xda
	dqtMarker   = 0xdb
	driMarker   = 0xdd
	comMarker   = 0xfe
	app0Marker  = 0xe0
	app14Marker = 0xee
	app15Marker = 0xef
)

const adobeTransformUnknown = 0

// unzig maps from the zig-zag ordering to the natural ordering.
var unzig = [blockSize]uint8{
	0, 1, 8, 16, 9, 2, 3, 10,
	17, 24, 32, 25, 18, 11, 4, 5,
	12, 19, 26, 33, 40, 48, 41, 34,
	27, 20, 13, 6, 7, 14, 21, 28,
	35, 42, 49, 56, 57, 50, 43, 36,
	29, 22, 15, 23, 30, 37, 44, 51,
	58, 59, 52, 45, 38, 31, 39, 46,
	53, 60, 61, 54, 47, 55, 62, 63,
}

// decoder holds the state of one Decode call.
type decoder struct {
	data []byte
	pos  int // next byte of data outside entropy-coded segments
	br   bitReader

	width, height int
	scale         int
	minK          int // the luma IDCT size: 8/scale
	maxH, maxV    int
	mxx, myy      int // MCUs across and down
	allocated     bool

	ri    int
	nComp int

	baseline, progressive bool
	jfif                  bool
	adobeTransformValid   bool
	adobeTransform        uint8
	eobRun                uint16

	comp       [maxComponents]component
	progCoeffs [maxComponents][]int16
	huff       [maxTc + 1][maxTh + 1]huffman
	quant      [maxTq + 1][blockSize]int32 // natural order
	sawSOS     bool
}

// Image is a decoded, possibly DCT-scaled, JPEG: one plane per component.
type Image struct {
	// Width and Height are the output size: the stored size divided by the
	// scale, rounded up, as libjpeg's output_width/output_height.
	Width, Height int
	// Gray is set for one-component images; then only Y is set.
	Gray bool
	// Y, Cb, Cr are the sample planes. Chroma is CW×CH samples, where
	// CW = ceil(Width/HS) and CH = ceil(Height/VS).
	Y, Cb, Cr        []byte
	YStride, CStride int
	// HS and VS are the chroma subsampling factors left after scaling (1,
	// 2 or 4): libjpeg scales chroma up in the IDCT where it can, so a
	// 4:2:0 image decoded at 1/2 or less has HS = VS = 1.
	HS, VS int
	// Fancy says whether libjpeg would upsample the remaining subsampled
	// chroma with its triangle filter ("fancy" upsampling, on by default);
	// it does not at 1/8, where every IDCT is 1×1.
	Fancy bool
}

// YCbCr returns the planes as an *image.YCbCr when HS and VS form one of
// the standard ratios (Gray images give nil, false).
func (m *Image) YCbCr() (*image.YCbCr, bool) {
	if m.Gray {
		return nil, false
	}
	var r image.YCbCrSubsampleRatio
	switch m.HS<<4 | m.VS {
	case 0x11:
		r = image.YCbCrSubsampleRatio444
	case 0x12:
		r = image.YCbCrSubsampleRatio440
	case 0x21:
		r = image.YCbCrSubsampleRatio422
	case 0x22:
		r = image.YCbCrSubsampleRatio420
	case 0x41:
		r = image.YCbCrSubsampleRatio411
	case 0x42:
		r = image.YCbCrSubsampleRatio410
	default:
		return nil, false
	}
	return &image.YCbCr{Y: m.Y, Cb: m.Cb, Cr: m.Cr, YStride: m.YStride, CStride: m.CStride,
		SubsampleRatio: r, Rect: image.Rect(0, 0, m.Width, m.Height)}, true
}

// Gray8 returns a one-component image as an *image.Gray.
func (m *Image) Gray8() (*image.Gray, bool) {
	if !m.Gray {
		return nil, false
	}
	return &image.Gray{Pix: m.Y, Stride: m.YStride, Rect: image.Rect(0, 0, m.Width, m.Height)}, true
}

// Config reads the frame header: size and number of components (1, 3 or 4).
func Config(data []byte) (width, height, nComp int, err error) {
	var d decoder
	if err := d.decode(data, 1, true); err != nil {
		return 0, 0, 0, err
	}
	if d.nComp == 0 {
		return 0, 0, 0, FormatError("missing SOF marker")
	}
	return d.width, d.height, d.nComp, nil
}

// Decode decodes data with its IDCTs scaled by 1/scale (scale is 1, 2, 4 or
// 8), as libjpeg does with scale_num = 1, scale_denom = scale. It returns
// ErrFallback for kinds it does not scale. The caller must have bounded the
// frame size (Config) before calling: Decode allocates the planes for it.
// It is safe for concurrent use.
func Decode(data []byte, scale int) (m *Image, err error) {
	switch scale {
	case 1, 2, 4, 8:
	default:
		return nil, UnsupportedError("scale")
	}
	defer func() {
		// A last line of defence: the decoder bounds every index it
		// computes from the input, so this is not expected to fire (the
		// fuzz test calls decode without it).
		if r := recover(); r != nil {
			m, err = nil, FormatError("decoder panic")
		}
	}()
	return decode(data, scale)
}

func decode(data []byte, scale int) (*Image, error) {
	var d decoder
	if err := d.decode(data, scale, false); err != nil {
		return nil, err
	}
	return d.image()
}

func (d *decoder) readFull(n int) ([]byte, error) {
	if n < 0 || d.pos+n > len(d.data) {
		return nil, FormatError("unexpected end of data")
	}
	b := d.data[d.pos : d.pos+n]
	d.pos += n
	return b, nil
}

func (d *decoder) readByte() (byte, error) {
	if d.pos >= len(d.data) {
		return 0, FormatError("unexpected end of data")
	}
	c := d.data[d.pos]
	d.pos++
	return c, nil
}

// processSOF is specified in section B.2.2.
func (d *decoder) processSOF(n int) error {
	if d.nComp != 0 {
		return FormatError("multiple SOF markers")
	}
	switch n {
	case 6 + 3*1:
		d.nComp = 1
	case 6 + 3*3:
		d.nComp = 3
	case 6 + 3*4:
		d.nComp = 4
	default:
		return UnsupportedError("number of components")
	}
	tmp, err := d.readFull(n)
	if err != nil {
		return err
	}
	if tmp[0] != 8 {
		return UnsupportedError("precision")
	}
	d.height = int(tmp[1])<<8 + int(tmp[2])
	d.width = int(tmp[3])<<8 + int(tmp[4])
	if int(tmp[5]) != d.nComp {
		return FormatError("SOF has wrong length")
	}
	for i := 0; i < d.nComp; i++ {
		d.comp[i].c = tmp[6+3*i]
		for j := 0; j < i; j++ {
			if d.comp[i].c == d.comp[j].c {
				return FormatError("repeated component identifier")
			}
		}
		d.comp[i].tq = tmp[8+3*i]
		if d.comp[i].tq > maxTq {
			return FormatError("bad Tq value")
		}
		hv := tmp[7+3*i]
		h, v := int(hv>>4), int(hv&0x0f)
		if h < 1 || 4 < h || v < 1 || 4 < v {
			return FormatError("luma/chroma subsampling ratio")
		}
		if h == 3 || v == 3 {
			return errUnsupportedSubsamplingRatio
		}
		switch d.nComp {
		case 1:
			// One component is non-interleaved by definition (A.2): its
			// (h, v) is effectively (1, 1).
			h, v = 1, 1
		case 3:
			switch i {
			case 0:
				if v == 4 {
					return errUnsupportedSubsamplingRatio
				}
			case 1:
				if d.comp[0].h%h != 0 || d.comp[0].v%v != 0 {
					return errUnsupportedSubsamplingRatio
				}
			case 2:
				if d.comp[1].h != h || d.comp[1].v != v {
					return errUnsupportedSubsamplingRatio
				}
			}
		case 4:
			switch i {
			case 0:
				if hv != 0x11 && hv != 0x22 {
					return errUnsupportedSubsamplingRatio
				}
			case 1, 2:
				if hv != 0x11 {
					return errUnsupportedSubsamplingRatio
				}
			case 3:
				if d.comp[0].h != h || d.comp[0].v != v {
					return errUnsupportedSubsamplingRatio
				}
			}
		}
		d.comp[i].h, d.comp[i].v = h, v
	}
	if d.width == 0 || d.height == 0 {
		return FormatError("zero image size")
	}
	return nil
}

// processDQT is specified in section B.2.4.1. Tables are kept in natural
// order, as libjpeg's.
func (d *decoder) processDQT(n int) error {
loop:
	for n > 0 {
		n--
		x, err := d.readByte()
		if err != nil {
			return err
		}
		tq := x & 0x0f
		if tq > maxTq {
			return FormatError("bad Tq value")
		}
		switch x >> 4 {
		default:
			return FormatError("bad Pq value")
		case 0:
			if n < blockSize {
				break loop
			}
			n -= blockSize
			tmp, err := d.readFull(blockSize)
			if err != nil {
				return err
			}
			for i := range blockSize {
				d.quant[tq][unzig[i]] = int32(tmp[i])
			}
		case 1:
			if n < 2*blockSize {
				break loop
			}
			n -= 2 * blockSize
			tmp, err := d.readFull(2 * blockSize)
			if err != nil {
				return err
			}
			for i := range blockSize {
				d.quant[tq][unzig[i]] = int32(tmp[2*i])<<8 | int32(tmp[2*i+1])
			}
		}
	}
	if n != 0 {
		return FormatError("DQT has wrong length")
	}
	return nil
}

// processDRI is specified in section B.2.4.4.
func (d *decoder) processDRI(n int) error {
	if n != 2 {
		return FormatError("DRI has wrong length")
	}
	tmp, err := d.readFull(2)
	if err != nil {
		return err
	}
	d.ri = int(tmp[0])<<8 + int(tmp[1])
	return nil
}

func (d *decoder) processApp0Marker(n int) error {
	tmp, err := d.readFull(n)
	if err != nil {
		return err
	}
	if n >= 5 {
		d.jfif = string(tmp[:5]) == "JFIF\x00"
	}
	return nil
}

func (d *decoder) processApp14Marker(n int) error {
	tmp, err := d.readFull(n)
	if err != nil {
		return err
	}
	if n >= 12 && string(tmp[:5]) == "Adobe" {
		d.adobeTransformValid = true
		d.adobeTransform = tmp[11]
	}
	return nil
}

// isRGB follows image/jpeg (and libjpeg's jdapimin.c) on whether three
// components are R, G, B rather than Y, Cb, Cr.
func (d *decoder) isRGB() bool {
	if d.jfif {
		return false
	}
	if d.adobeTransformValid && d.adobeTransform == adobeTransformUnknown {
		return true
	}
	return d.comp[0].c == 'R' && d.comp[1].c == 'G' && d.comp[2].c == 'B'
}

// decode walks the markers until EOI.
func (d *decoder) decode(data []byte, scale int, configOnly bool) error {
	d.data, d.scale = data, scale
	tmp, err := d.readFull(2)
	if err != nil {
		return err
	}
	if tmp[0] != 0xff || tmp[1] != soiMarker {
		return FormatError("missing SOI marker")
	}
	for {
		c0, err := d.readByte()
		if err != nil {
			return err
		}
		c1, err := d.readByte()
		if err != nil {
			return err
		}
		// Extraneous bytes before a marker are ignored, as libjpeg and
		// image/jpeg do.
		for c0 != 0xff {
			c0 = c1
			if c1, err = d.readByte(); err != nil {
				return err
			}
		}
		marker := c1
		if marker == 0 {
			continue
		}
		for marker == 0xff {
			if marker, err = d.readByte(); err != nil {
				return err
			}
		}
		if marker == eoiMarker {
			break
		}
		if rst0Marker <= marker && marker <= rst7Marker {
			continue
		}
		tmp, err := d.readFull(2)
		if err != nil {
			return err
		}
		n := int(tmp[0])<<8 + int(tmp[1]) - 2
		if n < 0 {
			return FormatError("short segment length")
		}
		switch marker {
		case sof0Marker, sof1Marker, sof2Marker:
			d.baseline = marker == sof0Marker
			d.progressive = marker == sof2Marker
			err = d.processSOF(n)
			if configOnly && err == nil {
				return nil
			}
		case dhtMarker:
			err = d.processDHT(n)
		case dqtMarker:
			err = d.processDQT(n)
		case sosMarker:
			if configOnly {
				return FormatError("missing SOF marker")
			}
			err = d.processSOS(n)
		case driMarker:
			err = d.processDRI(n)
		case app0Marker:
			err = d.processApp0Marker(n)
		case app14Marker:
			err = d.processApp14Marker(n)
		default:
			if app0Marker <= marker && marker <= app15Marker || marker == comMarker {
				_, err = d.readFull(n)
			} else if marker < 0xc0 {
				err = FormatError("unknown marker")
			} else {
				err = UnsupportedError("unknown marker")
			}
		}
		if err != nil {
			return err
		}
	}
	if configOnly {
		return nil
	}
	if !d.sawSOS {
		return FormatError("missing SOS marker")
	}
	if d.progressive {
		d.reconstructProgressiveImage()
	}
	return nil
}

// setup checks that the frame is a kind this package scales, and works
// out each component's IDCT size the way libjpeg's jdmaster.c does: the
// luma (largest sampling factor) uses 8/scale, and a subsampled component
// doubles its IDCT size while that still divides evenly, so chroma is
// upscaled in the DCT rather than by the upsampler.
func (d *decoder) setup() error {
	if d.nComp == 4 || d.nComp == 3 && d.isRGB() {
		return ErrFallback
	}
	d.minK = 8 / d.scale
	d.maxH, d.maxV = 1, 1
	for i := 0; i < d.nComp; i++ {
		d.maxH, d.maxV = max(d.maxH, d.comp[i].h), max(d.maxV, d.comp[i].v)
	}
	for i := 0; i < d.nComp; i++ {
		c := &d.comp[i]
		k := d.minK
		for k < 8 && (d.maxH*d.minK)%(c.h*k*2) == 0 && (d.maxV*d.minK)%(c.v*k*2) == 0 {
			k *= 2
		}
		c.k = k
	}
	if d.nComp == 3 {
		// The output is full-size luma plus chroma at an integral ratio.
		c := d.comp[1]
		if (d.maxH*d.minK)%(c.h*c.k) != 0 || (d.maxV*d.minK)%(c.v*c.k) != 0 {
			return ErrFallback
		}
	}
	return nil
}

// allocate makes every component's plane, covering whole MCUs.
func (d *decoder) allocate() {
	d.mxx = (d.width + 8*d.maxH - 1) / (8 * d.maxH)
	d.myy = (d.height + 8*d.maxV - 1) / (8 * d.maxV)
	if d.nComp == 1 {
		d.mxx = (d.width + 7) / 8
		d.myy = (d.height + 7) / 8
	}
	for i := 0; i < d.nComp; i++ {
		c := &d.comp[i]
		c.stride = d.mxx * c.h * c.k
		c.plane = make([]byte, c.stride*d.myy*c.v*c.k)
	}
	d.allocated = true
}

// image wraps the planes.
func (d *decoder) image() (*Image, error) {
	s := d.scale
	m := &Image{Width: (d.width + s - 1) / s, Height: (d.height + s - 1) / s}
	y := d.comp[0]
	m.Y, m.YStride = y.plane, y.stride
	if d.nComp == 1 {
		m.Gray, m.HS, m.VS = true, 1, 1
		return m, nil
	}
	c := d.comp[1]
	m.Cb, m.Cr, m.CStride = c.plane, d.comp[2].plane, c.stride
	m.HS = (d.maxH * d.minK) / (c.h * c.k)
	m.VS = (d.maxV * d.minK) / (c.v * c.k)
	m.Fancy = d.minK > 1
	return m, nil
}
