using SkiaSharp;

namespace ReverseSD.MLNet.Data;

/// <summary>Draws a scene with SkiaSharp in one of six styles: flat, outlined, glossy gradient, noisy, pixelated, blurred.</summary>
internal static class SceneRenderer
{
    private const int Flat = 0, Outline = 1, Gradient = 2, Noisy = 3, Pixel = 4, Blur = 5;

    /// <summary>Renders a scene; <paramref name="shade"/> in [−1, 1] mixes the shapes' colours toward white (&gt; 0) or black (&lt; 0).</summary>
    public static byte[] RenderPng(Scene scene, int size, Random rng, float shade = 0)
    {
        var info = new SKImageInfo(size, size, SKColorType.Rgba8888, SKAlphaType.Premul);
        using var bitmap = new SKBitmap(info);
        using (var canvas = new SKCanvas(bitmap))
        {
            if (scene.Style == Pixel)
            {
                // Draw at 1/5 resolution, then scale up without filtering: blocky pixels.
                int small = Math.Max(8, size / 5);
                using var lowRes = new SKBitmap(new SKImageInfo(small, small, SKColorType.Rgba8888, SKAlphaType.Premul));
                using (var lowCanvas = new SKCanvas(lowRes))
                    DrawScene(lowCanvas, scene, small, Flat, rng, antialias: false, shade);
                using var paint = new SKPaint { FilterQuality = SKFilterQuality.None, IsAntialias = false };
                canvas.DrawBitmap(lowRes, new SKRect(0, 0, size, size), paint);
            }
            else if (scene.Style == Blur)
            {
                using var sharp = new SKBitmap(info);
                using (var sharpCanvas = new SKCanvas(sharp))
                    DrawScene(sharpCanvas, scene, size, Flat, rng, antialias: true, shade);
                canvas.Clear(SyntheticVocabulary.Backgrounds[scene.Background].Color);
                float sigma = size * 0.02f;
                using var paint = new SKPaint { ImageFilter = SKImageFilter.CreateBlur(sigma, sigma, SKShaderTileMode.Clamp) };
                canvas.DrawBitmap(sharp, 0, 0, paint);
            }
            else
            {
                DrawScene(canvas, scene, size, scene.Style == Noisy ? Flat : scene.Style, rng, antialias: true, shade);
            }
        }
        if (scene.Style == Noisy) AddNoise(bitmap, rng, sigma: 30);
        using var image = SKImage.FromBitmap(bitmap);
        using var data = image.Encode(SKEncodedImageFormat.Png, 100);
        return data.ToArray();
    }

    private static void DrawScene(SKCanvas canvas, Scene scene, int size, int style, Random rng, bool antialias, float shade)
    {
        var bg = SyntheticVocabulary.Backgrounds[scene.Background].Color;
        if (style == Gradient)
        {
            using var shader = SKShader.CreateLinearGradient(
                new SKPoint(0, 0), new SKPoint(0, size), [Mix(bg, SKColors.White, 0.25f), Mix(bg, SKColors.Black, 0.25f)], SKShaderTileMode.Clamp);
            using var bgPaint = new SKPaint { Shader = shader };
            canvas.DrawRect(0, 0, size, size, bgPaint);
        }
        else canvas.Clear(bg);

        float scale = scene.Groups.Length == 3 ? 0.85f : 1f;
        foreach (var group in scene.Groups)
        {
            var color = SyntheticVocabulary.Colors[group.Color].Color;
            if (shade != 0) color = Mix(color, shade > 0 ? SKColors.White : SKColors.Black, Math.Abs(shade));
            float baseRadius = size * (group.Big ? 0.115f : 0.065f) * scale;
            for (int k = 0; k < group.Count; k++)
            {
                // Copies sit along the stacking axis, 0.27 of the image apart, with a little jitter.
                float offset = (k - (group.Count - 1) / 2f) * 0.27f * size;
                float cx = group.AnchorX * size + (group.StackVertically ? 0 : offset) + Jitter(rng, 0.025f * size);
                float cy = group.AnchorY * size + (group.StackVertically ? offset : 0) + Jitter(rng, 0.025f * size);
                float r = baseRadius * (0.9f + 0.2f * (float)rng.NextDouble());
                float angle = Jitter(rng, 10f);
                using var path = ShapePath(group.Shape, r);
                canvas.Save();
                canvas.Translate(cx, cy);
                canvas.RotateDegrees(angle);
                using var paint = new SKPaint { IsAntialias = antialias, Color = color };
                switch (style)
                {
                    case Outline:
                        paint.Style = SKPaintStyle.Stroke;
                        paint.StrokeWidth = Math.Max(2f, size * 0.025f);
                        paint.StrokeJoin = SKStrokeJoin.Round;
                        break;
                    case Gradient:
                        paint.Shader = SKShader.CreateRadialGradient(
                            new SKPoint(-0.35f * r, -0.35f * r), 1.7f * r, [Mix(color, SKColors.White, 0.55f), color, Mix(color, SKColors.Black, 0.45f)],
                            [0f, 0.45f, 1f], SKShaderTileMode.Clamp);
                        break;
                }
                canvas.DrawPath(path, paint);
                paint.Shader?.Dispose();
                canvas.Restore();
            }
        }
    }

    /// <summary>A shape centred on the origin whose size is set by <paramref name="r"/> (about its radius).</summary>
    private static SKPath ShapePath(int shape, float r)
    {
        var path = new SKPath();
        switch (SyntheticVocabulary.Shapes[shape].Singular)
        {
            case "circle":
                path.AddCircle(0, 0, r);
                break;
            case "square":
                path.AddRect(new SKRect(-0.85f * r, -0.85f * r, 0.85f * r, 0.85f * r));
                break;
            case "triangle":
                AddPolygon(path, 3, 1.15f * r, -90);
                break;
            case "hexagon":
                AddPolygon(path, 6, 1.05f * r, 0);
                break;
            case "star":
                for (int i = 0; i < 10; i++)
                {
                    double a = Math.PI / 180 * (-90 + 36 * i);
                    float rad = i % 2 == 0 ? 1.2f * r : 0.5f * r;
                    var p = new SKPoint(rad * (float)Math.Cos(a), rad * (float)Math.Sin(a));
                    if (i == 0) path.MoveTo(p); else path.LineTo(p);
                }
                path.Close();
                break;
            case "heart":
                path.MoveTo(0, 0.95f * r);
                path.CubicTo(-1.4f * r, 0.05f * r, -0.9f * r, -1.15f * r, 0, -0.45f * r);
                path.CubicTo(0.9f * r, -1.15f * r, 1.4f * r, 0.05f * r, 0, 0.95f * r);
                path.Close();
                break;
            case "ring":
                path.FillType = SKPathFillType.EvenOdd;
                path.AddCircle(0, 0, r);
                path.AddCircle(0, 0, 0.55f * r);
                break;
            case "cross":
                float w = 0.33f * r;
                path.AddRect(new SKRect(-w, -r, w, r));
                path.AddRect(new SKRect(-r, -w, r, w));
                path = Simplify(path);
                break;
            case "diamond":
                path.MoveTo(0, -1.15f * r);
                path.LineTo(0.7f * r, 0);
                path.LineTo(0, 1.15f * r);
                path.LineTo(-0.7f * r, 0);
                path.Close();
                break;
            case "crescent":
                {
                    using var outer = new SKPath();
                    using var inner = new SKPath();
                    outer.AddCircle(0, 0, r);
                    inner.AddCircle(0.45f * r, -0.15f * r, 0.85f * r);
                    path.Dispose();
                    path = outer.Op(inner, SKPathOp.Difference) ?? new SKPath(outer);
                    break;
                }
        }
        return path;
    }

    private static SKPath Simplify(SKPath path)
    {
        var simple = path.Simplify();
        if (simple == null) return path;
        path.Dispose();
        return simple;
    }

    private static void AddPolygon(SKPath path, int sides, float radius, float startDegrees)
    {
        for (int i = 0; i < sides; i++)
        {
            double a = Math.PI / 180 * (startDegrees + 360.0 * i / sides);
            var p = new SKPoint(radius * (float)Math.Cos(a), radius * (float)Math.Sin(a));
            if (i == 0) path.MoveTo(p); else path.LineTo(p);
        }
        path.Close();
    }

    private static void AddNoise(SKBitmap bitmap, Random rng, double sigma)
    {
        var span = bitmap.GetPixelSpan();
        var pixels = new byte[span.Length];
        span.CopyTo(pixels);
        for (int i = 0; i < pixels.Length; i += 4)
        {
            // One Gaussian draw per channel (Box-Muller); alpha stays opaque.
            for (int c = 0; c < 3; c++)
            {
                double u1 = 1.0 - rng.NextDouble(), u2 = rng.NextDouble();
                double n = Math.Sqrt(-2 * Math.Log(u1)) * Math.Cos(2 * Math.PI * u2);
                pixels[i + c] = (byte)Math.Clamp(pixels[i + c] + n * sigma, 0, 255);
            }
        }
        System.Runtime.InteropServices.Marshal.Copy(pixels, 0, bitmap.GetPixels(), pixels.Length);
    }

    private static float Jitter(Random rng, float amplitude) => (float)(rng.NextDouble() * 2 - 1) * amplitude;

    private static SKColor Mix(SKColor a, SKColor b, float t) => new(
        (byte)(a.Red + (b.Red - a.Red) * t), (byte)(a.Green + (b.Green - a.Green) * t), (byte)(a.Blue + (b.Blue - a.Blue) * t));
}
