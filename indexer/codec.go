package indexer

import (
	"bytes"
	"context"

	"imglish/encoder/preprocess"
	"imglish/vstore"
)

// pixelCodec is the production imageCodec: encoder/preprocess, which decodes
// by content, applies EXIF orientation and enforces its pixel and byte limits.
type pixelCodec struct {
	opts preprocess.Options
}

func (c pixelCodec) pixels(data []byte) (int64, error) {
	info, err := preprocess.ProbeBytes(data, c.opts)
	if err != nil {
		return 0, err
	}
	return int64(info.StoredWidth) * int64(info.StoredHeight), nil
}

func (c pixelCodec) decode(ctx context.Context, data []byte, size int) ([]float32, vstore.Meta, error) {
	o := c.opts
	o.Size = size
	tensor, info, err := preprocess.Reader(ctx, bytes.NewReader(data), o)
	if err != nil {
		return nil, vstore.Meta{}, err
	}
	return tensor, metaOf(info), nil
}

func (c pixelCodec) meta(data []byte) (vstore.Meta, error) {
	info, err := preprocess.ProbeBytes(data, c.opts)
	if err != nil {
		return vstore.Meta{}, err
	}
	return metaOf(info), nil
}

// metaOf is the item metadata an image's header and EXIF give (all but
// Size, which is the file's): the one place EXIF becomes vstore.Meta, the
// form the store keeps and the API shows.
func metaOf(info preprocess.Info) vstore.Meta {
	m := vstore.Meta{Width: info.Width, Height: info.Height, MediaType: mediaType(info.Format), Orientation: info.Orientation}
	if x := info.EXIF; x != nil {
		m.CameraMake, m.CameraModel, m.Lens = x.Make, x.Model, x.LensModel
		if t, zone, ok := x.Time(); ok {
			m.Taken, m.TakenOffset = t, zone
		}
		if g := x.GPS; g != nil {
			m.GPS = &vstore.GPS{Lat: g.Lat, Lon: g.Lon}
			if g.HasAlt {
				m.GPS.Alt = g.Alt
			}
		}
	}
	return m
}
