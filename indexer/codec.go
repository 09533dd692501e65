package indexer

import (
	"bytes"
	"context"

	"imglish/encoder/preprocess"
)

// pixelCodec is the production imageCodec: encoder/preprocess, which decodes
// by content, applies EXIF orientation and enforces its pixel and byte limits.
type pixelCodec struct {
	opts preprocess.Options
}

func (c pixelCodec) pixels(data []byte) (int64, error) {
	info, err := preprocess.Probe(bytes.NewReader(data), c.opts)
	if err != nil {
		return 0, err
	}
	return int64(info.StoredWidth) * int64(info.StoredHeight), nil
}

func (c pixelCodec) decode(ctx context.Context, data []byte, size int) ([]float32, Meta, error) {
	o := c.opts
	o.Size = size
	tensor, info, err := preprocess.Reader(ctx, bytes.NewReader(data), o)
	if err != nil {
		return nil, Meta{}, err
	}
	return tensor, metaOf(info), nil
}

func (c pixelCodec) meta(data []byte) (Meta, error) {
	info, err := preprocess.Probe(bytes.NewReader(data), c.opts)
	if err != nil {
		return Meta{}, err
	}
	return metaOf(info), nil
}

// metaOf keeps what search filters and sorts on.
func metaOf(info preprocess.Info) Meta {
	m := Meta{Width: info.Width, Height: info.Height, Format: info.Format, Orientation: info.Orientation}
	if x := info.EXIF; x != nil {
		m.Make, m.Model, m.Lens = x.Make, x.Model, x.LensModel
		if t, zone, ok := x.Time(); ok {
			m.Taken, m.HasTaken, m.TakenOffset = t, true, zone
		}
		if g := x.GPS; g != nil {
			m.HasGPS, m.Lat, m.Lon = true, g.Lat, g.Lon
			if g.HasAlt {
				m.Alt = g.Alt
			}
		}
	}
	return m
}
