using SkiaSharp;

namespace ReverseSD.MLNet.Backbones;

/// <summary>
/// Decodes an image file and writes its encoder input (resized, colour planes, scaled) into a caller's buffer, pixel for
/// pixel as ML.NET's <c>LoadImages</c> → <c>ResizeImages</c> → <c>ExtractPixels</c> chain (ImageAnalytics 5.0.1 on
/// SkiaSharp) computes it, so the two paths give the same features. One instance per thread: it reuses its resize target.
/// </summary>
internal sealed class ImagePixelLoader : IDisposable
{
    private readonly ImagePreprocessing _spec;
    private readonly SKBitmap _resized;
    private readonly SKCanvas _canvas;
    private readonly SKPaint _paint = new() { FilterQuality = SKFilterQuality.High };

    public ImagePixelLoader(ImagePreprocessing spec)
    {
        _spec = spec;
        _resized = new SKBitmap(spec.Width, spec.Height, isOpaque: true);
        _canvas = new SKCanvas(_resized);
    }

    /// <summary>Floats one image fills: 3 × Height × Width.</summary>
    public int InputLength => 3 * _spec.Width * _spec.Height;

    /// <summary>
    /// Fills <paramref name="destination"/> (length <see cref="InputLength"/>) with the encoder input of the image at
    /// <paramref name="path"/>; returns null, or why the image cannot be used (missing, not an image, truncated).
    /// </summary>
    public string? Load(string path, Span<float> destination)
    {
        if (destination.Length != InputLength)
            throw new ArgumentException($"The buffer holds {destination.Length} floats; one image needs {InputLength}.", nameof(destination));
        if (string.IsNullOrEmpty(path)) return "empty path";
        if (!File.Exists(path)) return "file not found";
        try
        {
            using var codec = SKCodec.Create(path);
            if (codec == null) return "not a decodable image";
            // As SKBitmap.Decode (what ML.NET's MLImage calls): premultiplied alpha, no colour space.
            var info = codec.Info;
            if (info.Width <= 0 || info.Height <= 0) return "image has no pixels";
            if (ImageValidation.TooManyPixels(info.Width, info.Height) is string tooLarge) return tooLarge; // a decompression bomb
            if (info.AlphaType == SKAlphaType.Unpremul) info.AlphaType = SKAlphaType.Premul;
            info.ColorSpace = null;
            using var decoded = new SKBitmap(info);
            var result = codec.GetPixels(info, decoded.GetPixels());
            // A truncated file decodes partly: ImageValidation (and so the ML.NET path) refuses it.
            if (result != SKCodecResult.Success) return $"decoding failed ({result})";
            SKBitmap? converted = null;
            try
            {
                var source = decoded;
                if (decoded.ColorType is not (SKColorType.Bgra8888 or SKColorType.Rgba8888))
                {
                    // MLImage keeps only BGRA/RGBA: it copies other formats (grey, 16-bit, ...) to BGRA.
                    converted = decoded.CanCopyTo(SKColorType.Bgra8888) ? decoded.Copy(SKColorType.Bgra8888) : null;
                    if (converted == null) return "unsupported pixel format";
                    source = converted;
                }
                Extract(Resize(source, out var owned), destination);
                owned?.Dispose();
                return null;
            }
            finally
            {
                converted?.Dispose();
            }
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return e.Message;
        }
    }

    /// <summary>The image at the input size: itself when already that size (ML.NET skips the resize then), else resized.</summary>
    private SKBitmap Resize(SKBitmap source, out SKBitmap? owned)
    {
        owned = null;
        int width = _spec.Width, height = _spec.Height;
        if (source.Width == width && source.Height == height) return source;
        if (_spec.Resize == ImageResizeMode.Stretch)
        {
            owned = source.Resize(new SKSizeI(width, height), SKFilterQuality.None)
                ?? throw new InvalidOperationException("SkiaSharp could not resize the image.");
            return owned;
        }

        // ML.NET's ResizeWithCrop / ResizeWithPadding (anchor centre), same float arithmetic.
        float widthAspect = (float)width / source.Width;
        float heightAspect = (float)height / source.Height;
        int destX = 0, destY = 0;
        float aspect;
        bool crop = _spec.Resize == ImageResizeMode.CenterCrop;
        if (heightAspect < widthAspect)
        {
            aspect = crop ? widthAspect : heightAspect;
            if (crop) destY = (int)((height - (source.Height * aspect)) / 2);
            else destX = (int)((width - (source.Width * aspect)) / 2);
        }
        else
        {
            aspect = crop ? heightAspect : widthAspect;
            if (crop) destX = (int)((width - (source.Width * aspect)) / 2);
            else destY = (int)((height - (source.Height * aspect)) / 2);
        }
        int destWidth = (int)(source.Width * aspect);
        int destHeight = (int)(source.Height * aspect);

        _resized.Erase(SKColors.Transparent); // ML.NET draws on a fresh (zeroed) bitmap; a padded border stays zero
        _canvas.DrawBitmap(source, new SKRect(0, 0, source.Width, source.Height), new SKRect(destX, destY, destX + destWidth, destY + destHeight), _paint);
        _canvas.Flush();
        return _resized;
    }

    /// <summary>Colour planes in the spec's order, times Scale (ML.NET ExtractPixels: ColorBits.Rgb, planar, offset 0).</summary>
    private void Extract(SKBitmap image, Span<float> destination)
    {
        int width = _spec.Width, height = _spec.Height, plane = width * height;
        bool bgraMemory = image.ColorType == SKColorType.Bgra8888;
        // Byte offsets of red and blue in a pixel; green is always 1.
        int red = bgraMemory ? 2 : 0, blue = bgraMemory ? 0 : 2;
        bool bgrPlanes = _spec.Order == ChannelOrder.Bgr;
        var first = destination[..plane];
        var second = destination.Slice(plane, plane);
        var third = destination.Slice(2 * plane, plane);
        var pixels = image.GetPixelSpan();
        int rowBytes = image.RowBytes;
        float scale = _spec.Scale;
        bool scaled = scale != 1f;
        for (int y = 0; y < height; y++)
        {
            var row = pixels.Slice(y * rowBytes, width * 4);
            int o = y * width;
            for (int x = 0; x < width; x++, o++)
            {
                int p = 4 * x;
                float r = row[p + red], g = row[p + 1], b = row[p + blue];
                if (scaled)
                {
                    r *= scale;
                    g *= scale;
                    b *= scale;
                }
                if (bgrPlanes)
                {
                    first[o] = b;
                    third[o] = r;
                }
                else
                {
                    first[o] = r;
                    third[o] = b;
                }
                second[o] = g;
            }
        }
    }

    /// <summary>Releases the reused bitmap.</summary>
    public void Dispose()
    {
        _paint.Dispose();
        _canvas.Dispose();
        _resized.Dispose();
    }
}
