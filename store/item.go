package store

import "imglish/vstore"

// Limits on stored fields, enforced on write (by vstore.Batch) and on
// decode.
const (
	MaxIDLen    = vstore.MaxIDLen
	maxStrLen   = vstore.MaxStringLen
	maxPathLen  = vstore.MaxPathLen
	maxListLen  = vstore.MaxListLen
	itemVersion = 1
)

// The item types are vstore's; these names keep store's API.
type (
	// File is vstore.File.
	File = vstore.File
	// GPS is vstore.GPS.
	GPS = vstore.GPS
	// Meta is vstore.Meta.
	Meta = vstore.Meta
	// Item is vstore.Item.
	Item = vstore.Item
	// Filter is vstore.Filter.
	Filter = vstore.Filter
)

func encodeItem(it *Item) []byte {
	b := make([]byte, 0, 256)
	b = append(b, itemVersion)
	b = appendString(b, it.ID)
	b = appendString(b, it.Hash)
	b = appendUvarint(b, uint64(len(it.Files)))
	for _, f := range it.Files {
		b = appendString(b, f.Path)
		b = appendVarint(b, f.Size)
		b = appendTime(b, f.ModTime)
	}
	b = appendVarint(b, it.Size)
	b = appendString(b, it.MediaType)
	b = appendUvarint(b, uint64(it.Width))
	b = appendUvarint(b, uint64(it.Height))
	b = appendTime(b, it.Taken)
	b = appendBool(b, it.TakenOffset)
	b = appendString(b, it.CameraMake)
	b = appendString(b, it.CameraModel)
	b = appendString(b, it.Lens)
	if g := it.GPS; g != nil {
		b = append(b, 1)
		b = appendFloat64(b, g.Lat)
		b = appendFloat64(b, g.Lon)
		b = appendFloat64(b, g.Alt)
	} else {
		b = append(b, 0)
	}
	b = appendVarint(b, int64(it.Orientation))
	b = appendUvarint(b, uint64(len(it.Tags)))
	for _, t := range it.Tags {
		b = appendString(b, t)
	}
	b = appendString(b, it.Model)
	b = appendTime(b, it.AddedAt)
	return seal(b)
}

// decodeItemInto decodes an item record into *it. Its strings share one
// allocation (the record), and its files are cut from *files, a slab that
// is refilled when short: loading 1M items then costs two allocations per
// item instead of about eight.
func decodeItemInto(key, val []byte, it *Item, files *[]File) error {
	body, ok := unseal(val)
	if !ok {
		return corrupt(key, "checksum")
	}
	r := &reader{b: body, src: string(body)}
	if v := r.byte(); v != itemVersion {
		return corrupt(key, "item version %d", v)
	}
	it.ID = r.string(MaxIDLen)
	it.Hash = r.string(maxStrLen)
	if n := int(r.uvarint(maxListLen)); n > 0 {
		if cap(*files)-len(*files) < n {
			*files = make([]File, 0, max(itemSlab, n))
		}
		f := (*files)[len(*files) : len(*files)+n : len(*files)+n]
		*files = (*files)[:len(*files)+n]
		for i := range f {
			f[i] = File{Path: r.string(maxPathLen), Size: r.varint(), ModTime: r.time()}
		}
		it.Files = f
	}
	it.Size = r.varint()
	it.MediaType = r.string(maxStrLen)
	it.Width = int(r.uvarint(1 << 31))
	it.Height = int(r.uvarint(1 << 31))
	it.Taken = r.time()
	it.TakenOffset = r.byte() == 1
	it.CameraMake = r.string(maxStrLen)
	it.CameraModel = r.string(maxStrLen)
	it.Lens = r.string(maxStrLen)
	if r.byte() == 1 {
		it.GPS = &GPS{Lat: r.float64(), Lon: r.float64(), Alt: r.float64()}
	}
	it.Orientation = int(r.varint())
	if n := r.uvarint(maxListLen); n > 0 {
		it.Tags = make([]string, n)
		for i := range it.Tags {
			it.Tags[i] = r.string(maxStrLen)
		}
	}
	it.Model = r.string(maxStrLen)
	it.AddedAt = r.time()
	if r.bad || len(r.b) != 0 {
		return corrupt(key, "item encoding")
	}
	if string(key[len(prefixItem):]) != it.ID {
		return corrupt(key, "item id %q under another key", it.ID)
	}
	return nil
}
