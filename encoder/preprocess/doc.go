// Package preprocess turns image files into the BEiT-3 vision input exactly
// as the official pipeline would (../shared/spec/beit3.md §4): decode,
// Pillow's convert('RGB'), Pillow's BICUBIC resize squashed to a square,
// then torchvision's ToTensor and Normalize, as CHW float32.
//
// # Decoding
//
// Formats are recognised by their leading bytes, never by file name: JPEG
// (baseline, progressive, grayscale, CMYK/YCCK), PNG (all bit depths,
// palette, alpha, interlaced), GIF (first frame), WebP (lossy, lossless,
// alpha; not animated), BMP and TIFF, through the standard library and
// golang.org/x/image. Everything else gives ErrUnsupported: HEIF (HEIC),
// AVIF, BigTIFF, JPEG 2000, ICO and CUR, PSD, QOI, PNM (P1–P7), XPM, DDS
// and SVG are recognised by their signature (UnsupportedFormat) and the
// error names them ("unsupported image format: JPEG 2000"); animated WebP
// and the features Go's decoders lack are named too; other bytes give
// "unknown signature". An SVG is recognised only by its root element
// within the first 1 KiB, after an optional BOM, XML declaration,
// comments and DOCTYPE, so that XML and text files are not called SVGs.
// The HEIC/AVIF decoders of
// github.com/gen2brain (libheif/dav1d compiled to WASM, run by wazero, or a
// system library through purego when one is installed) are not wired in
// yet: tried on ../shared/data's samples they decoded all three and refused
// a truncated AVIF cleanly, but a program using them weighed 9.5 MB and
// paid 0.9–1.4 s of WASM compilation on its first decode, and their output
// has no Pillow 9.4 reference to be checked against.
//
// JPEG is decoded by internal/jpegscale, a fork of image/jpeg with
// libjpeg's inverse DCTs (islow and the reduced 4×4, 2×2, 1×1), and
// converted with libjpeg-turbo's fancy chroma upsampling and fixed-point
// YCbCr tables: over the 139 JPEGs of ../shared/data/photos the result is
// bit-exact with Pillow 9.4 (libjpeg-turbo 2.1), at full size and at every
// DCT scale (TestPhotoParity, TestFastPathParity, TestDraftDecode). CMYK,
// YCCK and RGB-coded JPEGs go through image/jpeg (a level or two off).
// Non-JPEG inputs decode identically to Pillow, and from there the resize
// and tensor are bit-exact (golden tests made by
// tools/preprocess/make_goldens.py).
//
// # Fast path: DCT-domain downscaling
//
// File, Reader and Resized decode a JPEG that is at least twice Size on
// both sides at 1/2, 1/4 or 1/8 scale in the DCT domain, then resize: the
// largest scale that keeps it at least Size×Size (Pillow's Image.draft
// rule). That is what Pillow gives after im.draft('RGB', (Size, Size)),
// bit for bit, but not the official pipeline's pixels, which resize the
// full-size decode. Measured at 384×384 over the 26 photos of
// ../shared/data/photos that get scaled (113 smaller ones are unchanged):
// mean |Δ| 1.0 level against the official pipeline, the worst photo 5.0
// (fine print at 1/2), the largest single difference 94; on the committed
// fixtures mean 0.3–2.0. In exchange a 12 MP JPEG costs about a quarter of
// the time (BenchmarkJPEGTensor). Options.Exact turns it off; Decode always
// decodes at full size. A stricter rule (a scaled image at least 2×Size,
// as Pillow's thumbnail() asks draft for) was measured too: 12 MP then
// decodes at 1/2 and costs 100–125 ms instead of 60–70 (same machine,
// same load), for a mean |Δ| of 0.25 level (worst photo 0.42, max 21) over
// the 13 photos it scales. It misses the 60 ms budget, so the draft rule
// stays; Exact is there when the official pixels matter.
//
// EXIF orientation (JPEG APP1, PNG eXIf, WebP EXIF, TIFF IFD0) is applied
// unless Options.IgnoreOrientation; BEiT-3's own loader ignores it, but
// phone photos are mostly stored sideways. Values outside 1..8 mean 1. The
// same EXIF block gives Metadata (capture time, camera, lens, GPS) through a
// small bounded parser of our own. The capture time (Metadata.Time) is
// DateTimeOriginal, else DateTimeDigitized, else IFD0's DateTime, each
// with its own offset tag: scanners, editors and avatar sets write only
// DateTime (25 of the 181 files of ../shared/data/photos), which is closer
// to the truth than the file's mtime the caller would fall back to.
//
// # Security
//
// Inputs are hostile. Before any pixel is decoded, the header's size is
// checked against Options.MaxPixels (100 MP by default) and against a
// decoded-memory budget derived from it, so dimension bombs and
// decompression bombs (a 389 KB PNG that inflates to 400 MB) are refused
// with ErrTooLarge having allocated nothing large; without this check Go's
// decoders die with an unrecoverable out-of-memory error on such files.
// Inputs are read whole, up to Options.MaxBytes. Truncated or malformed data
// gives ErrCorrupt; decoders also run under recover as a last line of
// defence. The EXIF parser bounds every offset and count. Fuzz tests cover
// the whole decode path and the EXIF parser.
//
// # Concurrency
//
// Every function is safe for concurrent use; nothing is shared between
// calls. An *RGB is plain memory owned by the caller.
//
// # Cost
//
// One core, a 12 MP (4000×3000, 4:2:0, 3.9 MB) JPEG to a 384×384 tensor
// (BenchmarkJPEGTensor with GOMAXPROCS=1, CPU time per op on the shared
// 2-core machine at load 6–7, old and new binaries run alternately): 56–58
// ms by default, of which ~40 ms is Huffman decoding that no scale avoids;
// 206–223 ms with Exact; 319–335 ms for the code before jpegscale (image/jpeg
// and a slower colour conversion, resize and orientation). The default path
// allocates 5.4 MB per tensor (the 1/4-size planes, the horizontal pass)
// besides the file's bytes; Exact 24 MB (full-size planes), and about 70 MB more
// when EXIF orientation 5–8 needs the full image turned (peak RSS of a
// fresh process: 22 MB default, 34 MB Exact, 106 MB Exact turned). Decode's
// full RGB image adds 3 bytes a pixel. A progressive JPEG also keeps 2
// bytes per sample of coefficients until its last scan.
//
// The resize's multiply-adds run in AVX2 on amd64 (mac_amd64.s, chosen at
// start-up by CPU feature), 16 samples at a time, on the same integers as
// the scalar loops, so the result is the same to the bit (the parity tests
// run on both paths; TestMACMatchesScalar compares them on random shapes).
// The horizontal pass runs as a vertical one on transposed strips of 64
// rows, two strips of working memory whatever the image's height. On one
// core (BenchmarkResize, a 128 px image): to 80 px 0.06 ms instead of
// 0.22, to 384 px 0.25 ms instead of 1.90; a 12 MP JPEG to a 384 tensor,
// where decoding dominates, 51 ms instead of 56 (BenchmarkJPEGTensor).
package preprocess
