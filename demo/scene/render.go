package scene

import (
	"fmt"
	"image"
	"image/draw"
	"math"

	"golang.org/x/image/vector"
)

// Render draws the scene on a size×size RGBA image, antialiased.
func (s Scene) Render(size int) (*image.RGBA, error) {
	if size < 8 || size > 4096 {
		return nil, fmt.Errorf("render %d px: %w", size, ErrSize)
	}
	img := image.NewRGBA(image.Rect(0, 0, size, size))
	draw.Draw(img, img.Bounds(), image.NewUniform(s.bgRGB), image.Point{}, draw.Src)
	z := vector.NewRasterizer(size, size)
	for _, o := range s.Objects {
		z.Reset(size, size)
		z.DrawOp = draw.Over
		path(z, o, float64(size))
		z.Draw(img, img.Bounds(), image.NewUniform(o.RGB), image.Point{})
	}
	return img, nil
}

// path adds the object's outline to z in pixel coordinates.
func path(z *vector.Rasterizer, o Object, side float64) {
	cx, cy, rad := o.X*side, o.Y*side, o.R*side
	sin, cos := math.Sincos(o.Angle)
	pt := func(x, y float64) (float32, float32) { // unit shape coords → pixels
		return float32(cx + rad*(x*cos-y*sin)), float32(cy + rad*(x*sin+y*cos))
	}
	poly := func(xy ...float64) {
		z.MoveTo(pt(xy[0], xy[1]))
		for k := 2; k < len(xy); k += 2 {
			z.LineTo(pt(xy[k], xy[k+1]))
		}
		z.ClosePath()
	}
	switch o.Shape {
	case Circle:
		// Four cubic arcs; k is the standard quarter-circle control distance.
		const k = 0.5522847498
		z.MoveTo(pt(1, 0))
		cube := func(x1, y1, x2, y2, x3, y3 float64) {
			ax, ay := pt(x1, y1)
			bx, by := pt(x2, y2)
			ex, ey := pt(x3, y3)
			z.CubeTo(ax, ay, bx, by, ex, ey)
		}
		cube(1, k, k, 1, 0, 1)
		cube(-k, 1, -1, k, -1, 0)
		cube(-1, -k, -k, -1, 0, -1)
		cube(k, -1, 1, -k, 1, 0)
		z.ClosePath()
	case Square:
		poly(-0.85, -0.85, 0.85, -0.85, 0.85, 0.85, -0.85, 0.85)
	case Triangle:
		// Equilateral, apex up, centred on its centroid; circumradius 1.15.
		const rr = 1.15
		poly(0, -rr, rr*math.Sqrt(3)/2, rr/2, -rr*math.Sqrt(3)/2, rr/2)
	case Star:
		xy := make([]float64, 0, 20)
		for k := range 10 {
			rr := 1.15
			if k%2 == 1 {
				rr = 0.48
			}
			a := -math.Pi/2 + float64(k)*math.Pi/5
			xy = append(xy, rr*math.Cos(a), rr*math.Sin(a))
		}
		poly(xy...)
	case Diamond:
		poly(0, -1.15, 0.78, 0, 0, 1.15, -0.78, 0)
	case Cross:
		const a, w = 1.0, 0.34
		poly(-w, -a, w, -a, w, -w, a, -w, a, w, w, w, w, a, -w, a, -w, w, -a, w, -a, -w, -w, -w)
	}
}
